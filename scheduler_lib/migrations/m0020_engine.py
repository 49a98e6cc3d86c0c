"""Engine state on jobs: which node holds a job's current run, and until when.

``lease_owner`` is the node id of the engine running (or retrying) the job's current
run; ``lease_expires_at`` is when that claim lapses unless renewed. A job with a live
lease is never claimed again, which is how a job never overlaps itself, on one node
or many. Unfinished results (``started_at`` set, ``finished_at`` null) of jobs whose
lease is gone are runs interrupted by a crash.
"""

NAME = "0020_engine"

STATEMENTS = [
    "ALTER TABLE jobs ADD COLUMN lease_owner VARCHAR(64) NULL",
    "ALTER TABLE jobs ADD COLUMN lease_expires_at TIMESTAMP NULL",
    # The dispatcher's "earliest due time of a job nobody runs" reads this index only.
    "CREATE INDEX jobs_free_due ON jobs (next_run_at) WHERE lease_owner IS NULL",
    "CREATE INDEX job_results_unfinished ON job_results (finished_at, started_at)",
]


def apply(run) -> None:
    for statement in STATEMENTS:
        run(statement)
