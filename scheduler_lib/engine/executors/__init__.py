"""Executors: one module per job type, each performing attempts of that type.

An executor knows nothing of the database. For one attempt the runner asks the
executor of the job's ``type`` (``registry.EXECUTORS``) to ``prepare`` a ``Request``
from the job, ``execute`` it (an ``Outcome`` comes out) and ``judge`` the outcome by
the rules of its type; the job's success rules (``assertions``) are checked after
that, the same way for every type. Every failure is caught and described in
``Outcome.error`` (``timeout after 10 s``, ``connection refused``, ``DNS lookup failed
…``, ``TLS error …``), so an executor never raises for a target's misbehaviour.

Adding a job type, say ``grpc``:

1. Write ``executors/grpc.py`` with a class that satisfies ``Executor``: a
   ``from_settings(settings, pool_size)`` constructor, ``prepare`` (start from
   ``scheduler_headers``), ``execute`` (a coroutine on the engine's event loop,
   which runs many attempts at once: never block it, run blocking calls with
   ``loop.run_in_executor``; never raises, every failure goes into
   ``Outcome.error``), ``judge`` (``None`` when the answer counts as success, else
   the result's error) and ``close`` (a coroutine too).
2. Register it in ``registry.EXECUTORS`` under the name a job's ``type`` carries.
3. Accept the name with its URL schemes in ``services.jobs.JOB_TYPES`` (the request
   schema's ``type`` enum is built from it), list it in the ``Job`` schema
   (``api/schemas.py``) and document it in docs/api.md section 7.

The runner, the dispatcher and the success rules need no change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ... import __version__
from ...netguard import PrivateAddressError
from ...services.headers import is_reserved_header

if TYPE_CHECKING:
    from ...config import Settings
    from ..store import JobSpec

__all__ = ["Request", "Outcome", "Executor", "PrivateAddressError", "scheduler_headers",
           "timeout_text", "USER_AGENT"]

USER_AGENT = f"scheduler/{__version__}"


@dataclass(frozen=True)
class Request:
    """One attempt to send: where, what, and within how long."""
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    timeout: float = 10.0
    # Exempt from ``fetch.deny_private_networks`` (superusers' jobs).
    allow_private_networks: bool = False


@dataclass
class Outcome:
    """What the target answered, or why it did not (``error``)."""
    status_code: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncated: bool = False
    error: str | None = None


class Executor(Protocol):
    """What the runner needs of a job type's executor (one instance per engine,
    shared by every attempt on its event loop)."""

    @classmethod
    def from_settings(cls, settings: Settings, pool_size: int) -> Executor:
        """The engine's executor of this type; ``pool_size`` is the worker count."""

    def prepare(self, job: JobSpec, run_id: str, attempt: int) -> Request:
        """The request of attempt ``attempt`` of run ``run_id`` of ``job``."""

    async def execute(self, request: Request) -> Outcome:
        """Perform ``request`` on the running event loop (the engine's: many attempts
        at once); never raises for the target's failures."""

    def judge(self, job: JobSpec, outcome: Outcome) -> str | None:
        """``None`` when ``outcome`` counts as success for this type, else why not."""

    async def close(self) -> None:
        """Release pooled connections."""


def scheduler_headers(job: JobSpec, run_id: str, attempt: int) -> dict[str, str]:
    """The job's preset headers plus the scheduler's own, which always win.

    Framing and routing headers are dropped whatever the preset says (presets stored
    before they were refused may hold them)."""
    headers = {name: value for name, value in job.headers.items()
               if not is_reserved_header(name) and name.lower() not in (
                   "user-agent", "x-scheduler-job-id", "x-scheduler-attempt")}
    headers["User-Agent"] = USER_AGENT
    headers["X-Scheduler-Job-Id"] = run_id
    headers["X-Scheduler-Attempt"] = str(attempt)
    return headers


def timeout_text(seconds: float) -> str:
    return f"timeout after {seconds:g} s"
