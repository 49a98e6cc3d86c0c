"""What the engine does differently on SQLite and on PostgreSQL, in one object.

SQLite serves one node per database file: at start-up that node owns every lease
left behind and closes the attempts a crash interrupted; an expired lease is simply
free. PostgreSQL serves several nodes: a lease is only free when released, the
runs of a node that died are taken over by the others (``claims``), nodes claiming
at the same instant skip each other's locked rows, and a node hears the others' API
changes (``wakeups``). ``backend()`` gives the object for the open database; the
rest of the engine asks it instead of testing which database it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ..db import database, is_postgres

if TYPE_CHECKING:
    from .store import Finished

__all__ = ["Backend", "SqliteBackend", "PostgresBackend", "backend"]

_NEVER = datetime(1970, 1, 1)
DISPATCHER_CACHE_KIB = 64 * 1024   # SQLite: the dispatcher connection's page cache, at most


class Backend(Protocol):
    """The engine's view of one kind of database (see the module docstring)."""

    several_nodes: bool
    lock_candidates: str   # appended to the SELECT of jobs a pass is about to claim

    def lease_cutoff(self, now: datetime) -> datetime:
        """Leases that expired before this count as free."""

    def prepare_dispatcher_connection(self) -> None:
        """Settings of the dispatcher thread's own connection (called in that thread)."""

    def typed(self, expression: str, sql_type: str) -> str:
        """``expression`` typed as ``sql_type`` in a VALUES list."""

    def write_finished(self, records: Sequence[Finished], now: datetime) -> None:
        """Complete the records of finished attempts and their jobs' last run (the
        leases are released by ``store.finish_attempts``)."""


class SqliteBackend:
    several_nodes = False
    lock_candidates = ""   # BEGIN IMMEDIATE already serialises the writers

    def lease_cutoff(self, now: datetime) -> datetime:
        return now   # one node: an expired lease belongs to nobody

    def prepare_dispatcher_connection(self) -> None:
        """A page cache of up to 64 MiB for the dispatcher: each run reads and writes
        its job's rows and index entries, scattered over the table when there are many
        jobs, and SQLite's default 2 MiB cache then read most of them back from the
        file at every pass. The cache grows only as pages are read (the other
        connections keep the default: the API has one per server thread)."""
        database.execute_sql(f"PRAGMA cache_size = -{DISPATCHER_CACHE_KIB}")

    def typed(self, expression: str, sql_type: str) -> str:
        return expression   # SQLite keeps a value as bound

    def write_finished(self, records: Sequence[Finished], now: datetime) -> None:
        """Two ``executemany`` (in process, cheap)."""
        cursor = database.cursor()
        cursor.executemany(
            "UPDATE job_results SET status_code = ?, response = ?, response_headers = ?, "
            "response_truncated = ?, error = ?, success = ?, started_at = ?, "
            "finished_at = ?, duration_ms = ?, updated_at = ? WHERE id = ?",
            [(r.status_code, r.response, json.dumps(r.response_headers), r.response_truncated,
              r.error, r.success, r.started_at, r.finished_at, r.duration_ms, now, r.result_id)
             for r in records])
        cursor.executemany("UPDATE jobs SET last_run_at = ?, last_status = ? WHERE id = ?",
                           [(r.started_at, "success" if r.success else "failure", r.job_id)
                            for r in records])


# Every value cast: a column of VALUES holding only NULLs would otherwise be text.
_RESULT_ROW = ("(%s::bigint, %s::integer, %s::text, %s::text, %s::boolean, %s::text, "
               "%s::boolean, %s::timestamp, %s::timestamp, %s::integer)")
_JOB_ROW = "(%s::bigint, %s::timestamp, %s::text)"


class PostgresBackend:
    several_nodes = True
    lock_candidates = " FOR UPDATE OF j SKIP LOCKED"

    def prepare_dispatcher_connection(self) -> None:
        """Nothing: PostgreSQL's buffers are the server's, shared by every connection."""

    def lease_cutoff(self, now: datetime) -> datetime:
        # None: a node that died left its runs in flight, and ``claims`` runs them
        # again (or releases the lease) before the job can be claimed anew.
        return _NEVER

    def typed(self, expression: str, sql_type: str) -> str:
        return f"CAST({expression} AS {sql_type})"

    def write_finished(self, records: Sequence[Finished], now: datetime) -> None:
        """Two ``UPDATE … FROM (VALUES …)`` for the whole batch, in one round trip."""
        results: list[object] = [now]
        jobs: list[object] = []
        for r in records:
            results += (r.result_id, r.status_code, r.response, json.dumps(r.response_headers),
                        r.response_truncated, r.error, r.success, r.started_at, r.finished_at,
                        r.duration_ms)
            jobs += (r.job_id, r.started_at, "success" if r.success else "failure")
        database.execute_sql(
            "UPDATE job_results SET status_code = v.status_code, response = v.response, "
            "response_headers = v.headers, response_truncated = v.truncated, "
            "error = v.error, success = v.success, started_at = v.started_at, "
            "finished_at = v.finished_at, duration_ms = v.duration_ms, updated_at = %s "
            f"FROM (VALUES {', '.join([_RESULT_ROW] * len(records))}) AS v (id, "
            "status_code, response, headers, truncated, error, success, started_at, "
            "finished_at, duration_ms) WHERE job_results.id = v.id; "
            "UPDATE jobs SET last_run_at = v.started_at, last_status = v.status FROM (VALUES "
            f"{', '.join([_JOB_ROW] * len(records))}) AS v (id, started_at, status) "
            "WHERE jobs.id = v.id", (*results, *jobs))


_SQLITE: Backend = SqliteBackend()
_POSTGRES: Backend = PostgresBackend()


def backend() -> Backend:
    """The backend of the open database."""
    return _POSTGRES if is_postgres() else _SQLITE
