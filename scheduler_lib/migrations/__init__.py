"""Versioned schema migrations.

Each migration is a module with ``NAME`` and ``apply(run)``, where ``run(sql)``
executes one statement written in the common SQL of SQLite and PostgreSQL (the
token ``AUTO_PK`` becomes each dialect's auto-increment primary key). A migration is
frozen once released: change the schema by adding a new module to ``MIGRATIONS``.
Applied names are kept in ``schema_migrations``; ``migrate`` applies the missing
ones in order inside ``db.exclusive()``, so it is idempotent and safe when several
processes start at once. No migration drops user data.
"""

from __future__ import annotations

from .. import db
from ..timeutil import utcnow
from . import (
    m0001_initial,
    m0020_engine,
    m0030_login_throttle,
    m0040_run_requests,
    m0050_security,
    m0060_assertions,
    m0070_notifications,
    m0080_audit,
)

__all__ = ["MIGRATIONS", "migrate", "pending"]

MIGRATIONS = (m0001_initial, m0020_engine, m0030_login_throttle, m0040_run_requests,
              m0050_security, m0060_assertions, m0070_notifications, m0080_audit)

_PK = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "BIGSERIAL PRIMARY KEY"}


def _runner():
    dialect = "postgres" if db.is_postgres() else "sqlite"

    def run(sql: str) -> None:
        db.database.execute_sql(sql.replace("AUTO_PK", _PK[dialect]))
    return run


def _applied() -> set[str]:
    cursor = db.database.execute_sql("SELECT name FROM schema_migrations")
    return {row[0] for row in cursor.fetchall()}


def pending() -> list[str]:
    """Names of migrations not yet applied (all of them on an empty database)."""
    if "schema_migrations" not in db.database.get_tables():
        return [m.NAME for m in MIGRATIONS]
    done = _applied()
    return [m.NAME for m in MIGRATIONS if m.NAME not in done]


def migrate() -> list[str]:
    """Apply every missing migration; returns the names applied now."""
    applied_now = []
    with db.exclusive():
        db.database.execute_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name VARCHAR(200) PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
        done = _applied()
        run = _runner()
        for migration in MIGRATIONS:
            if migration.NAME in done:
                continue
            migration.apply(run)
            db.database.execute_sql(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (%s, %s)"
                .replace("%s", db.database.param),
                (migration.NAME, utcnow()))
            applied_now.append(migration.NAME)
    return applied_now
