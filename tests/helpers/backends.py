"""The database backends the test suite runs on: SQLite files and PostgreSQL.

SQLite needs nothing. PostgreSQL is reached through ``SCHEDULER_TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``, trust auth): that database
is only used to create and drop the run's own databases, ``scheduler_test_<pid>_<hex>``,
so parallel test runs never see each other's rows. One database per test session is
migrated once; between tests every table but ``schema_migrations`` is emptied
(``TRUNCATE … RESTART IDENTITY CASCADE``), which costs a few milliseconds where a
fresh database would cost a few hundred.

Where PostgreSQL is unreachable its tests skip with the reason, unless
``SCHEDULER_TEST_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) turns that into a failure.
``SCHEDULER_TEST_BACKENDS=sqlite`` (or ``postgres``) limits a run to one backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import closing
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest

__all__ = ["BACKENDS", "selected_backends", "PostgresCluster", "ScratchDatabase",
           "session_database", "require_postgres", "query"]

BACKENDS = ("sqlite", "postgres")
ADMIN_URL = os.environ.get("SCHEDULER_TEST_POSTGRES_URL",
                           "postgresql://postgres@127.0.0.1:5432/test")
_PREFIX = "scheduler_test_"


def require_postgres() -> bool:
    """Whether a missing PostgreSQL fails the run instead of skipping its tests."""
    return os.environ.get("SCHEDULER_TEST_REQUIRE_POSTGRES", "") not in ("", "0")


def selected_backends() -> tuple[str, ...]:
    """The backends this run covers (``SCHEDULER_TEST_BACKENDS``, default both)."""
    wanted = os.environ.get("SCHEDULER_TEST_BACKENDS", "")
    names = tuple(n.strip() for n in wanted.split(",") if n.strip()) or BACKENDS
    unknown = set(names) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"SCHEDULER_TEST_BACKENDS: unknown {sorted(unknown)}")
    if require_postgres() and "postgres" not in names:
        raise pytest.UsageError("SCHEDULER_TEST_REQUIRE_POSTGRES is set but "
                                "SCHEDULER_TEST_BACKENDS leaves PostgreSQL out")
    return names


def _with_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresCluster:
    """The PostgreSQL server of the test run: creates and drops scratch databases."""

    def __init__(self, admin_url: str = ADMIN_URL):
        self.admin_url = admin_url
        self._admin = psycopg2.connect(admin_url, connect_timeout=3,
                                       application_name="scheduler-tests")
        self._admin.autocommit = True
        self._is_local = urlparse(admin_url).hostname in ("127.0.0.1", "localhost", "::1")

    @classmethod
    def connect(cls) -> PostgresCluster:
        """The cluster, or skip (fail under SCHEDULER_TEST_REQUIRE_POSTGRES) if unreachable."""
        try:
            return cls()
        except psycopg2.Error as exc:
            reason = (f"PostgreSQL unreachable at {ADMIN_URL} "
                      f"({str(exc).strip().splitlines()[0]}); "
                      "set SCHEDULER_TEST_POSTGRES_URL or SCHEDULER_TEST_BACKENDS=sqlite")
            if require_postgres():
                pytest.fail(reason + " — required by SCHEDULER_TEST_REQUIRE_POSTGRES",
                            pytrace=False)
            pytest.skip(reason)

    def _execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._admin.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def drop_abandoned(self) -> None:
        """Drop the scratch databases of test runs that died on this machine."""
        if not self._is_local:
            return
        rows = self._execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                             (_PREFIX + "%",))
        for (name,) in rows:
            pid = name[len(_PREFIX):].split("_", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"{_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:10]}"
        self._execute(f'CREATE DATABASE "{name}"')
        return _with_database(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        name = urlparse(url).path.lstrip("/")
        assert name.startswith(_PREFIX), name
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self._admin.close()



class ScratchDatabase:
    """A database of the test session, emptied (schema kept) before each test."""

    def __init__(self, url: str):
        self.url = url
        self._conn = psycopg2.connect(url, connect_timeout=3, application_name="scheduler-tests")
        self._conn.autocommit = True

    def empty(self) -> None:
        """Delete every row but the applied migrations' and restart the id sequences.

        ``DELETE`` with foreign-key triggers off (``session_replication_role``) takes
        about a millisecond on these small tables where ``TRUNCATE`` takes 50-300.
        """
        with self._conn.cursor() as cursor:
            cursor.execute("SET lock_timeout = '10s'")
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = "
                           "current_schema() AND tablename <> 'schema_migrations'")
            tables = [f'"{row[0]}"' for row in cursor.fetchall()]
            if not tables:
                return
            cursor.execute("BEGIN")
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute("SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, "
                           "1, false) FROM pg_sequences WHERE schemaname = current_schema()")
            cursor.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


def session_database(cluster: PostgresCluster) -> Iterator[ScratchDatabase]:
    """One scratch database for the whole session (dropped at its end)."""
    database = ScratchDatabase(cluster.create_database())
    try:
        yield database
    finally:
        database.close()
        cluster.drop_database(database.url)


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows of one statement on the PostgreSQL database at ``url`` (its own
    connection: the servers under test may be dead)."""
    with closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
