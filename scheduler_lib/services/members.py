"""Job members: who has which role in a job. A job always keeps at least one owner."""

from __future__ import annotations

import peewee

from ..db import exclusive
from ..errors import BadRequest, Conflict, NotFound
from ..models import JobMember, User
from ..timeutil import utcnow
from . import access
from .sessions import find_user

__all__ = ["list_members", "add_member", "get_member", "update_member", "remove_member"]

_LAST_OWNER = "A project must keep at least one owner: add another owner first"


def _member(job_id: int, user_id: int) -> JobMember:
    member = JobMember.get_or_none(JobMember.job == job_id, JobMember.user == user_id)
    if member is None:
        raise NotFound(f"User with id {user_id} is not a member of this project")
    return member


def _is_last_owner(member: JobMember) -> bool:
    if member.role != "owner":
        return False
    owners = JobMember.select().where(JobMember.job == member.job_id,
                                      JobMember.role == "owner").count()
    return owners <= 1


def list_members(user: User, job_id: int, limit: int, offset: int
                 ) -> tuple[list[JobMember], int]:
    job = access.require(user, job_id, access.READ)
    rows = (JobMember.select(JobMember, User).join(User).where(JobMember.job == job.id)
            .order_by(JobMember.created_at, JobMember.user))
    return list(rows.limit(limit).offset(offset)), rows.count()


def _named_user(user_id: int | None, username: str | None) -> User:
    """The user given by id or by username/e-mail (exactly one of them)."""
    if (user_id is None) == (username is None):
        raise BadRequest("Field 'user_id' or 'username' is required (exactly one of them)")
    found = (User.get_or_none(User.id == user_id) if user_id is not None
             else find_user(username or ""))
    if found is None:
        raise NotFound(f"User with id {user_id} not found" if user_id is not None
                       else f"User {username} not found")
    return found


def add_member(user: User, job_id: int, role: str, *, user_id: int | None = None,
               username: str | None = None) -> JobMember:
    """Give a user (by id, or by username or e-mail) a role in the job (owners)."""
    try:
        with exclusive():
            job = access.require(user, job_id, access.OWNER)
            user_id = _named_user(user_id, username).id
            if JobMember.get_or_none(JobMember.job == job.id, JobMember.user == user_id):
                raise Conflict(f"User with id {user_id} is already a member of this project")
            return JobMember.create(job=job.id, user=user_id, role=role, created_at=utcnow())
    except peewee.IntegrityError:
        raise Conflict(f"User with id {user_id} is already a member of this project") from None


def get_member(user: User, job_id: int, user_id: int) -> JobMember:
    job = access.require(user, job_id, access.READ)
    return _member(job.id, user_id)


def update_member(user: User, job_id: int, user_id: int, role: str) -> JobMember:
    with exclusive():
        job = access.require(user, job_id, access.OWNER)
        member = _member(job.id, user_id)
        if role != "owner" and _is_last_owner(member):
            raise BadRequest(_LAST_OWNER)
        if member.role != role:
            JobMember.update(role=role).where(JobMember.job == job.id,
                                              JobMember.user == user_id).execute()
            member.role = role
    return member


def remove_member(user: User, job_id: int, user_id: int) -> None:
    with exclusive():
        job = access.require(user, job_id, access.OWNER)
        member = _member(job.id, user_id)
        if _is_last_owner(member):
            raise BadRequest(_LAST_OWNER)
        JobMember.delete().where(JobMember.job == job.id, JobMember.user == user_id).execute()
