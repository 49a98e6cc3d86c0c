"""Several nodes on one PostgreSQL database: retrying the runs of a node that died.

``store.claim_due`` already makes each scheduled run start on exactly one node (one
guarded UPDATE for the runs of a pass whose ``RETURNING`` lists the jobs won, with
``FOR UPDATE OF j SKIP LOCKED`` on the candidates so that nodes claiming at the same
instant take different jobs instead of queueing on each other's row locks). What a
crash leaves behind is handled here.

A node that dies (SIGKILL, power loss, a network partition) stops renewing the
leases of the jobs it was running; ``scheduler.lease_seconds`` later they expire.
Every node looks for such runs about once a second (``take_over_interrupted``): an
unfinished attempt (``started_at`` set, ``finished_at`` null) of a job whose lease has
expired. It takes the job's lease with a guarded UPDATE (the row count says which
node won), closes the old attempt as interrupted, and starts the run again as the
next attempt: same run id, same ``scheduled_at``, ``X-Scheduler-Attempt`` one
higher, so a target can recognise the repeat. Across a node's crash a run is
therefore at-least-once; while nodes are alive it is at-most-once. Runs of jobs that
were paused or deleted meanwhile are closed as interrupted and not repeated, and so
is a run whose node died between two of its attempts (no attempt was in flight).

On SQLite there is one node per database: it releases all leases at start-up and
closes the interrupted attempts instead (``store.take_over_leases`` and
``store.recover_interrupted``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from . import store
from .runner import Attempt

__all__ = ["TAKEOVER_PERIOD", "take_over_interrupted"]

log = logging.getLogger("scheduler.engine")

# How often a node looks for runs whose node died (their leases expired).
TAKEOVER_PERIOD = 1.0


def _node_died(owner: str | None, retried_as: int | None) -> str:
    """The error recorded on an attempt whose node died while it ran."""
    then = f"; retried as attempt {retried_as}" if retried_as else "; not retried"
    return store.interrupted_error(f"node {owner or '?'}", then)


def take_over_interrupted(node: str, now: datetime, limit: int,
                          lease_seconds: int) -> list[Attempt]:
    """Take over up to ``limit`` runs of dead nodes; call inside ``store.transaction()``.

    Returns the new attempts (their records written) for this node's workers.
    Interrupted runs that will not be repeated (job paused or deleted, or no free
    worker is needed for them) are closed here too, whatever ``limit`` is.
    """
    rows = store.execute(
        f"SELECT r.id, r.job_id, r.attempt, r.scheduled_at, j.lease_owner, j.is_active, "
        f"{store.JOB_COLUMNS} FROM job_results r JOIN jobs j ON j.id = r.fetch_id "
        "JOIN schedules s ON s.id = j.execute_id "
        "LEFT JOIN header_presets h ON h.id = j.header_id "
        "WHERE r.finished_at IS NULL AND r.started_at IS NOT NULL "
        # Never our own runs: they are in our pool even if a slow pass let the lease lapse.
        "AND (j.lease_owner IS NULL OR (j.lease_expires_at < ? AND j.lease_owner <> ?)) "
        "ORDER BY r.scheduled_at LIMIT ? FOR UPDATE OF j, r SKIP LOCKED",
        (now, node, max(limit, 0) + 100)).fetchall()
    attempts: list[Attempt] = []
    expires = now + timedelta(seconds=lease_seconds)
    for row in rows:
        result_id, run_id, number, scheduled_at, owner, active = row[:6]
        job = store.job_from_row(row[6:])
        retry = bool(active) and len(attempts) < limit
        if not retry and active:
            continue   # no free worker now: the next look takes it
        owner_test = "lease_owner IS NULL" if owner is None else "lease_owner = ?"
        won = store.execute(
            "UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = ? AND "
            f"{owner_test} AND (lease_expires_at IS NULL OR lease_expires_at < ?)",
            (node if retry else None, expires if retry else None, job.id,
             *(() if owner is None else (owner,)), now)).rowcount
        if won != 1:
            continue
        store.fail_attempts([result_id], _node_died(owner, number + 1 if retry else None),
                            now)
        if not retry:
            continue
        scheduled = store.as_datetime(scheduled_at) or now
        [result_id] = store.open_attempts(
            [store.RunStart(job, run_id, number + 1, scheduled)], now)
        attempts.append(Attempt(job, run_id, number + 1, scheduled, result_id))
        log.warning("job %s: node %s died during run %s; running it again as attempt %d",
                    job.id, owner or "?", run_id, number + 1)
    # A node that died between two attempts of a run (or right after claiming) left a
    # lease and nothing in flight: the job is simply free again.
    store.release_idle_leases(node, now)
    return attempts
