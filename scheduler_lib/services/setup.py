"""Preparing a database for serving: schema, JWT secret, first superuser."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .. import auth, migrations
from ..config import Settings
from ..context import AppContext
from ..db import exclusive
from ..models import AppSetting, User
from .users import create_user

__all__ = ["Bootstrap", "prepare", "jwt_secret"]


@dataclass(frozen=True)
class Bootstrap:
    """The superuser created on an empty database, if any."""
    username: str
    generated_password: str | None  # shown once when we made it up


def jwt_secret(settings: Settings) -> str:
    """The configured secret, else the one generated once and kept in the database."""
    if settings.auth.jwt_secret:
        return settings.auth.jwt_secret
    with exclusive():
        row = AppSetting.get_or_none(AppSetting.key == "jwt_secret")
        if row is None:
            row = AppSetting.create(key="jwt_secret", value=secrets.token_urlsafe(48))
    return row.value


def _bootstrap_superuser(ctx: AppContext) -> Bootstrap | None:
    settings = ctx.settings.bootstrap
    if User.select().exists():
        return None
    with exclusive():  # several nodes may start on one empty database: one creates it
        if User.select().exists():
            return None
        username = settings.username or "admin"
        password = settings.password or secrets.token_urlsafe(12)
        email = settings.email or f"{username}@localhost.localdomain"
        create_user(ctx, username=username, email=email, password=password,
                    is_superuser=True)
    return Bootstrap(username, None if settings.password else password)


def prepare(settings: Settings, *, bootstrap: bool = True) -> tuple[AppContext, Bootstrap | None]:
    """Migrate the bound database and build the context; maybe create a superuser."""
    migrations.migrate()
    rounds = settings.auth.bcrypt_rounds
    ctx = AppContext(settings=settings, jwt_secret=jwt_secret(settings),
                     dummy_password_hash=auth.unmatchable_hash(rounds))
    created = _bootstrap_superuser(ctx) if bootstrap else None
    return ctx, created
