"""Users: create, read, update, delete, with the superuser rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import peewee

from .. import auth
from ..context import AppContext
from ..db import database, exclusive
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..models import Job, JobMember, Schedule, User
from ..timeutil import utcnow
from .sessions import revoke_all_refresh_tokens

__all__ = [
    "USERNAME_PATTERN", "EMAIL_PATTERN", "MIN_PASSWORD_LENGTH", "create_user", "get_user",
    "get_user_by_username", "list_users", "update_user", "update_profile", "delete_user",
    "set_password", "NewPassword", "new_password", "hash_new_password",
]

USERNAME_PATTERN = r"^[A-Za-z0-9._-]{3,150}$"
EMAIL_PATTERN = r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
MIN_PASSWORD_LENGTH = 8


def _check_username(username: str) -> str:
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise BadRequest("Field 'username' must be 3-150 characters: letters, digits, '.', '_' "
                         "or '-'")
    return username


def _check_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not re.fullmatch(EMAIL_PATTERN, email):
        raise BadRequest("Field 'email' must be a valid e-mail address")
    return email


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Field 'password' must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password.encode()) > auth.MAX_PASSWORD_BYTES:
        raise BadRequest(f"Field 'password' must be at most {auth.MAX_PASSWORD_BYTES} bytes")
    return password


def _ensure_unique(username: str | None, email: str | None, exclude_id: int | None = None) -> None:
    for field, value, label in ((User.username, username, "Username"),
                                (User.email, email, "Email")):
        if value is None:
            continue
        query = User.select(User.id).where(peewee.fn.lower(field) == value.lower())
        if exclude_id is not None:
            query = query.where(User.id != exclude_id)
        if query.exists():
            raise Conflict(f"{label} {value} is already taken")


@dataclass(frozen=True)
class NewPassword:
    """A new password, checked and hashed."""
    hash: str


def hash_new_password(ctx: AppContext, password: str) -> NewPassword:
    """``password`` checked and hashed (slow: outside any transaction)."""
    return NewPassword(auth.hash_password(_check_password(password),
                                          ctx.settings.auth.bcrypt_rounds))


def new_password(ctx: AppContext, changes: dict[str, Any], *,
                 current_user: User | None = None) -> NewPassword | None:
    """The new ``password`` of ``changes`` checked and hashed (None when it sets none).

    bcrypt is slow: the API calls this before the write's transaction opens (a
    route's ``prepare``) and hands the result on. With ``current_user`` (someone
    changing their own password) ``current_password`` must be theirs.
    """
    password = changes.get("password")
    if password is None:
        return None
    if current_user is not None:
        current = changes.get("current_password")
        if current is None or not auth.check_password(current, current_user.password_hash):
            raise Forbidden("Current password is incorrect")
    return hash_new_password(ctx, password)


def create_user(ctx: AppContext, *, username: str, email: str, password: str,
                is_superuser: bool = False, prepared: NewPassword | None = None) -> User:
    username = _check_username(username)
    email = _check_email(email)
    password_hash = (prepared or hash_new_password(ctx, password)).hash
    now = utcnow()
    try:
        with database.atomic():
            _ensure_unique(username, email)
            return User.create(username=username, email=email, password_hash=password_hash,
                               is_superuser=is_superuser, created_at=now, updated_at=now)
    except peewee.IntegrityError:
        # A concurrent create won the unique index.
        raise Conflict("Username or email is already taken") from None


def get_user(user_id: int) -> User:
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise NotFound(f"User with id {user_id} not found")
    return user


def get_user_by_username(username: str) -> User:
    """The user with this username (case-insensitive); NotFound otherwise."""
    user = User.get_or_none(peewee.fn.lower(User.username) == username.lower())
    if user is None:
        raise NotFound(f"No user named {username!r}")
    return user


def list_users(limit: int, offset: int) -> tuple[list[User], int]:
    query = User.select().order_by(User.id)
    return list(query.limit(limit).offset(offset)), query.count()


def _superuser_count() -> int:
    return User.select().where(User.is_superuser == True).count()  # noqa: E712


def _apply_changes(ctx: AppContext, user: User, changes: dict[str, Any],
                   prepared: NewPassword | None = None) -> User:
    """Write username/email/password/is_superuser changes in one transaction."""
    username = changes.get("username")
    email = changes.get("email")
    if username is not None:
        _check_username(username)
    if email is not None:
        email = _check_email(email)
    prepared = prepared or new_password(ctx, changes)
    new_hash = prepared.hash if prepared is not None else None
    try:
        with exclusive():
            fresh = get_user(user.id)
            _ensure_unique(username, email, exclude_id=fresh.id)
            demote = changes.get("is_superuser") is False and fresh.is_superuser
            if demote and _superuser_count() <= 1:
                raise BadRequest("Cannot demote the last superuser")
            if username is not None:
                fresh.username = username
            if email is not None:
                fresh.email = email
            if changes.get("is_superuser") is not None:
                fresh.is_superuser = changes["is_superuser"]
            if new_hash is not None:
                fresh.password_hash = new_hash
                fresh.token_version += 1
                revoke_all_refresh_tokens(fresh.id)
            fresh.updated_at = utcnow()
            fresh.save()
            return fresh
    except peewee.IntegrityError:
        raise Conflict("Username or email is already taken") from None


def update_user(ctx: AppContext, user_id: int, changes: dict[str, Any],
                prepared: NewPassword | None = None) -> User:
    """A superuser's edit of any user (the only way to change is_superuser)."""
    return _apply_changes(ctx, get_user(user_id), changes, prepared)


def update_profile(ctx: AppContext, user: User, changes: dict[str, Any],
                   prepared: NewPassword | None = None) -> User:
    """A user's edit of themself: no escalation, password change needs the old one
    (checked by ``new_password(..., current_user=user)``, here or by the caller)."""
    if "is_superuser" in changes and changes["is_superuser"] != user.is_superuser:
        raise Forbidden("Only a superuser can change is_superuser, via PATCH /user/{id}")
    prepared = prepared or new_password(ctx, changes, current_user=user)
    allowed = {k: v for k, v in changes.items() if k in ("username", "email")}
    return _apply_changes(ctx, user, allowed, prepared)


def set_password(ctx: AppContext, user: User, password: NewPassword) -> User:
    """The operator's reset (CLI) to a password made by ``new_password``."""
    return _apply_changes(ctx, user, {}, password)


def delete_user(actor: User | None, user_id: int) -> None:
    """Delete a user and all that is theirs alone.

    Their keys, tokens, schedules, header presets and memberships go (foreign keys
    cascade); so does every job of which they are the only owner, with its results.
    ``actor`` is None when an operator deletes from the CLI.
    """
    if actor is not None and actor.id == user_id:
        raise BadRequest("You cannot delete yourself")
    with exclusive():
        target = get_user(user_id)
        if target.is_superuser and _superuser_count() <= 1:
            raise BadRequest("Cannot delete the last superuser")
        owned = JobMember.select(JobMember.job).where(
            JobMember.user == user_id, JobMember.role == "owner")
        co_owned = (JobMember.select(JobMember.job)
                    .where(JobMember.job.in_(owned), JobMember.role == "owner",
                           JobMember.user != user_id))
        Job.delete().where(Job.id.in_(owned), Job.id.not_in(co_owned)).execute()
        still_used = (Job.select(Job.id).join(Schedule)
                      .where(Schedule.user == user_id).limit(1).exists())
        if still_used:
            raise Conflict(f"User with id {user_id} owns schedules used by other users' jobs; "
                           "move those jobs to another schedule first")
        target.delete_instance()
