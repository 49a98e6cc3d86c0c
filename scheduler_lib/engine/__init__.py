"""The scheduling engine: claims due runs, executes them, records every attempt.

``Engine`` (dispatcher and worker pool) runs inside ``serve``; ``run_job_now`` runs
one job synchronously (the CLI's ``jobs run``). See ``store`` for how runs are
claimed, ``claims`` for taking over a dead node's runs, ``backend`` for what differs
between SQLite and PostgreSQL, ``runner`` for what one attempt does, ``executors``
for the job types (one module each, named in ``executors.registry``), ``retention``
for pruning old results.
"""

from .dispatcher import Engine
from .runner import run_job_now

__all__ = ["Engine", "run_job_now"]
