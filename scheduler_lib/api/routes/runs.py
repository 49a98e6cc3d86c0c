"""POST /fetch/{id}/run: run a job now, off its schedule."""

from __future__ import annotations

from ...errors import ServiceUnavailable
from ...services import access
from ..routing import Call, Reply, Route
from ..schemas import named

__all__ = ["ROUTES"]


def run_job(call: Call) -> Reply:
    """Queue a run now (also for an inactive job); its results carry the new job_id."""
    job = access.require(call.user, call.params["id"], access.WRITE)
    engine = call.ctx.engine
    if engine is None:
        raise ServiceUnavailable("The scheduler is not running on this node")
    return Reply("Run queued", {"job_id": engine.run_now(job.id)})


ROUTES = [
    Route("POST", "/fetch/{id}/run", run_job,
          "Run a job now, off schedule (owner, editor); the job's own job_id and "
          "next_run_at do not change", tag="jobs", status=202,
          data=named("RunQueued", {"type": "object", "properties": {"job_id": {"type": "string"}},
                                   "required": ["job_id"]}),
          errors=(401, 403, 404, 503), operation_id="runJob"),
]
