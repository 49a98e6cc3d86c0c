"""Run-now requests kept on the job, and the lookups of a run by its ``job_id``.

``run_requested_id`` is the ``job_id`` of a manual run (``POST /fetch/{id}/run``)
waiting to start, ``run_requested_at`` when it was asked for (its ``scheduled_at``).
Keeping the request in the database makes "at most one waiting manual run per job"
hold across nodes, lets any node start it, and survives a restart. Existing rows
keep working: both columns start null (no request waiting).
"""

NAME = "0040_run_requests"

STATEMENTS = [
    "ALTER TABLE jobs ADD COLUMN run_requested_id VARCHAR(36) NULL",
    "ALTER TABLE jobs ADD COLUMN run_requested_at TIMESTAMP NULL",
    # The dispatcher looks for waiting requests every pass: only they are indexed.
    "CREATE INDEX jobs_run_requested ON jobs (run_requested_id) "
    "WHERE run_requested_id IS NOT NULL",
    # GET /fetch/{job_id}/job finds a job by the job_id of any of its results.
    "CREATE INDEX job_results_job_id ON job_results (job_id)",
]


def apply(run) -> None:
    for statement in STATEMENTS:
        run(statement)
