"""Database binding: one Peewee database per process, SQLite or PostgreSQL.

Models bind to ``database`` (a proxy); ``open_database`` points it at the URL from
the configuration. ``exclusive()`` is the one way to run a critical section that
must not interleave with other processes (migrations, bootstrap): on SQLite it is a
``BEGIN IMMEDIATE`` transaction, on PostgreSQL a transaction holding an advisory
lock.

PostgreSQL connections come from a bounded pool (``database.max_connections`` per
process): threads take one when they first touch the database and give it back with
``release_connection()`` (the API does so after every request; the engine's
dispatcher keeps one, its workers use none), so a node holds about as many
connections as it uses at once. ``announce_jobs_changed`` and ``connect_unpooled``
serve the wake-ups between nodes (LISTEN/NOTIFY, see ``engine/wakeups.py``).
SQLite keeps one connection per thread, which is cheap and never released.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlparse

import peewee
import psycopg2
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

from .errors import ConfigError

__all__ = ["database", "open_database", "is_postgres", "exclusive", "describe_url",
           "release_connection", "close_all", "DEFAULT_MAX_CONNECTIONS", "JOBS_CHANNEL",
           "announce_jobs_changed", "connect_unpooled", "is_busy_error", "exposed_database_files",
           "unit_of_work", "after_commit"]

DEFAULT_MAX_CONNECTIONS = 20
# A thread waits this long for a pooled connection before its request fails.
_POOL_WAIT_SECONDS = 30
# Idle pooled connections older than this are closed and replaced on checkout.
_POOL_STALE_SECONDS = 300

log = logging.getLogger("scheduler.db")

database = peewee.DatabaseProxy()

# The PostgreSQL NOTIFY channel on which nodes tell each other that jobs changed.
JOBS_CHANNEL = "scheduler_jobs"

# Any constant shared by every node; names the advisory lock for schema work.
_ADVISORY_LOCK_KEY = 0x5C4ED01E


def _sqlite(url: str) -> peewee.SqliteDatabase:
    path = url[len("sqlite:///"):]
    if not path:
        raise ConfigError(f"database.url: no file name in {url!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"database.url: directory {directory} does not exist")
    _create_owner_only(path)
    return peewee.SqliteDatabase(
        path,
        pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 15000,
                 "synchronous": "normal"},
        # Writers take the lock when the transaction starts, so two transactions
        # never deadlock upgrading a read lock; busy_timeout queues them instead.
        lock_type="IMMEDIATE",
        check_same_thread=False,
    )


def _create_owner_only(path: str) -> None:
    """Create the database file readable by its owner only (it holds the JWT secret and
    preset credentials); SQLite gives its WAL and SHM files the same mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # an existing database keeps its mode (serve warns when others may read it)
    except OSError as exc:
        raise ConfigError(f"database.url: cannot create {path}: {exc.strerror}") from None


def exposed_database_files(url: str) -> list[str]:
    """The SQLite database's files (and WAL/SHM) that users other than the owner may read."""
    if not url.startswith("sqlite:///"):
        return []
    path = url[len("sqlite:///"):]
    exposed = []
    for name in (path, path + "-wal", path + "-shm"):
        try:
            mode = os.stat(name).st_mode
        except OSError:
            continue
        if mode & 0o077:
            exposed.append(name)
    return exposed


def _postgres(url: str, max_connections: int) -> peewee.PostgresqlDatabase:
    parsed = urlparse(url)
    name = unquote(parsed.path.lstrip("/"))
    if not name:
        raise ConfigError(f"database.url: no database name in {describe_url(url)!r}")
    params = {"host": parsed.hostname or "127.0.0.1", "port": parsed.port or 5432}
    if parsed.username:
        params["user"] = unquote(parsed.username)
    if parsed.password:
        params["password"] = unquote(parsed.password)
    return PooledPostgresqlDatabase(
        name, max_connections=max_connections, stale_timeout=_POOL_STALE_SECONDS,
        timeout=_POOL_WAIT_SECONDS, connect_timeout=10, application_name="scheduler",
        # A node whose peer vanished (machine down, network cut) notices in ~1 minute.
        keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
        **params)


def describe_url(url: str) -> str:
    """The URL with any password masked, for logs and messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@", 1)
    return url


def open_database(url: str, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> peewee.Database:
    """Create the database for ``url`` and bind the models' proxy to it.

    ``max_connections`` bounds the PostgreSQL pool of this process.
    """
    db: peewee.Database
    if url.startswith("sqlite:///"):
        db = _sqlite(url)
    elif url.startswith(("postgresql://", "postgres://")):
        db = _postgres(url, max_connections)
    else:
        raise ConfigError(f"database.url: unsupported URL {describe_url(url)!r} "
                          "(use sqlite:///file.db or postgresql://…)")
    database.initialize(db)
    return db


def is_postgres(db: peewee.Database | None = None) -> bool:
    """Whether ``db`` (default: the bound database) is PostgreSQL."""
    target = db or database.obj
    return isinstance(target, peewee.PostgresqlDatabase)


def release_connection() -> None:
    """Give this thread's PostgreSQL connection back to the pool (no-op on SQLite).

    Call it when a unit of work (a request, a job run) is over; a transaction still
    open here is rolled back by the pool.
    """
    target = database.obj
    if isinstance(target, PooledPostgresqlDatabase) and not target.is_closed():
        target.close()


def close_all() -> None:
    """Close every connection of this process (on shutdown)."""
    target = database.obj
    if target is None:
        return
    if isinstance(target, PooledPostgresqlDatabase):
        target.close_all()
    else:
        target.close()


def is_busy_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is saturated rather than broken: no pooled
    connection came free in time, or SQLite stayed locked past its busy timeout."""
    if isinstance(exc, MaxConnectionsExceeded):
        return True
    return isinstance(exc, peewee.OperationalError) and "database is locked" in str(exc)


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """A transaction that no other process runs at the same time."""
    with database.atomic():
        if is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
        yield


_units = threading.local()


@contextlib.contextmanager
def unit_of_work() -> Iterator[None]:
    """One transaction around a whole unit of work (an API write request, a CLI
    command): what it changes commits together or not at all. Callbacks given to
    ``after_commit`` meanwhile run once it has committed (never on a rollback)."""
    callbacks: list[Callable[[], None]] = []
    outer = getattr(_units, "callbacks", None)
    _units.callbacks = callbacks
    try:
        with database.atomic():
            yield
    finally:
        _units.callbacks = outer
    for callback in callbacks:
        after_commit(callback)


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` when the open ``unit_of_work`` commits, or now outside one
    (the engine must not look for a change before it is visible)."""
    callbacks = getattr(_units, "callbacks", None)
    if callbacks is None:
        callback()
    else:
        callbacks.append(callback)


def announce_jobs_changed() -> None:
    """PostgreSQL: tell every node's engine that jobs or schedules changed (NOTIFY).

    Sent after the change committed (or, inside a transaction, delivered when it
    commits). A no-op on SQLite, where the one engine is woken in-process.
    """
    if not is_postgres():
        return
    try:
        database.execute_sql(f"NOTIFY {JOBS_CHANNEL}")
    except peewee.DatabaseError as exc:
        # The change itself is committed; other nodes see it at their next poll.
        log.warning("could not notify the other nodes of a job change: %s", exc)


def connect_unpooled() -> Any:
    """A new psycopg2 connection to the bound PostgreSQL database, outside the pool
    (for LISTEN, which needs a connection of its own for as long as it listens)."""
    target = database.obj
    if not isinstance(target, peewee.PostgresqlDatabase):
        raise TypeError("connect_unpooled: the bound database is not PostgreSQL")
    conn = psycopg2.connect(dbname=target.database, **target.connect_params)
    conn.autocommit = True
    return conn
