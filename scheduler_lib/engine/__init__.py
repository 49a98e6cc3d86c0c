"""The scheduling engine: claims due runs, executes them, records every attempt.

``Engine`` (dispatcher and event loop) runs inside ``serve``, in a child process of
its own by default (``process``); ``run_job_now`` runs one job synchronously (the
CLI's ``jobs run``). See ``store`` for how runs are claimed, ``claims`` for taking
over a dead node's runs, ``backend`` for what differs between SQLite and PostgreSQL,
``runner`` for what one attempt does, ``attempts`` for the event loop running them,
``executors`` for the job types (one module each, named in ``executors.registry``),
``retention`` for pruning old results.

Both names are imported on first use: the API process of ``serve`` needs only
``process`` and never loads the HTTP clients.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Engine", "run_job_now"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from .dispatcher import Engine
        return Engine
    if name == "run_job_now":
        from .runner import run_job_now
        return run_job_now
    raise AttributeError(name)
