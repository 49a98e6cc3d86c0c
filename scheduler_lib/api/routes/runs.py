"""POST /fetch/{id}/run: run a job now, off its schedule."""

from __future__ import annotations

from ...services import jobs
from ..routing import Call, Reply, Route
from ..schemas import named

__all__ = ["ROUTES"]


def run_job(call: Call) -> Reply:
    """Queue a run now (also for an inactive job); its results carry the new job_id."""
    return Reply("Run queued", {"job_id": jobs.request_run(call.ctx, call.user,
                                                           call.params["id"])})


ROUTES = [
    Route("POST", "/fetch/{id}/run", run_job,
          "Run a job now, off schedule (owner, editor); the job's own job_id and "
          "next_run_at do not change; one manual run per job waits at a time (409)",
          tag="jobs", status=202, action="job.run",
          data=named("RunQueued", {"type": "object", "properties": {"job_id": {"type": "string"}},
                                   "required": ["job_id"]}),
          errors=(401, 403, 404, 409, 503), operation_id="runJob"),
]
