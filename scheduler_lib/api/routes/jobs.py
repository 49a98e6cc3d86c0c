"""/fetch: jobs (`GET /fetch/{job_id}/job` finds one by the id of one of its runs)."""

from __future__ import annotations

from ...assertions import MAX_RULES
from ...services import jobs
from ...services.jobs import JOB_TYPES, STATUS_CLASSES
from .. import schemas
from ..routing import Call, Reply, Route
from ..schemas import named
from ..validation import obj

MAX_ID = 2**63 - 1  # ids are signed 64-bit columns
_STATUS = {"anyOf": [{"type": "integer", "minimum": 100, "maximum": 599},
                     {"enum": list(STATUS_CLASSES)}],
           "x-error": 'must be a status code 100-599 or one of "1xx"…"5xx"'}
_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "type": {"enum": list(JOB_TYPES)},
    "endpoint": {"type": "string", "minLength": 1, "maxLength": 2048,
                 "description": "http(s):// for rest, ws(s):// for websocket."},
    "method": {"type": "string", "minLength": 1, "maxLength": 10,
               "description": "get, post, put, patch or delete (any case)."},
    "topic": {"type": ["string", "null"], "maxLength": 2048},
    "payload": {"description": "A string, or any JSON value (stored as its JSON text)."},
    "description": {"type": "string", "maxLength": 10000},
    "execute_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "header_id": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
    "is_active": {"type": "boolean"},
    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 300},
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10},
    "retry_backoff_seconds": {"type": "integer", "minimum": 0, "maximum": 86400},
    "expected_status": {"type": "array", "minItems": 1, "maxItems": 100, "items": _STATUS},
    "assertions": {"type": "array", "maxItems": MAX_RULES, "items": schemas.ASSERTION,
                   "description": "Success rules, checked after expected_status."},
    "alert_after_failures": {"type": "integer", "minimum": 1, "maximum": 1000,
                             "description": "Failed runs in a row that fire `failure`."},
    "pause_after_failures": {"type": "integer", "minimum": 0, "maximum": 1000,
                             "description": "Failed runs in a row that pause the job "
                                            "(0: never)."},
}
_ALL = {"all": {"type": "boolean", "default": False,
                "description": "Every job (superusers only)."}}


def list_jobs(call: Call) -> Reply:
    rows, total = jobs.list_jobs(call.user, call.query)
    return Reply("Success", rows, total=total)


def create_job(call: Call) -> Reply:
    return Reply("Fetch Api Created!", jobs.create_job(call.ctx, call.user, call.body).to_json())


def get_job(call: Call) -> Reply:
    return Reply("Success", jobs.get_job(call.user, call.params["id"]).to_json())


def get_job_by_run_id(call: Call) -> Reply:
    return Reply("Success", jobs.get_job_by_run_id(call.user, call.params["job_id"]).to_json())


def update_job(call: Call) -> Reply:
    job = jobs.update_job(call.ctx, call.user, call.params["id"], call.body)
    return Reply("Fetch Api Updated!", job.to_json())


def delete_job(call: Call) -> Reply:
    jobs.delete_job(call.ctx, call.user, call.params["id"])
    return Reply("Fetch Api Deleted!")


ROUTES = [
    Route("GET", "/fetch", list_jobs, "Jobs the caller is a member of", tag="jobs",
          paginated=True, query=_ALL, data=schemas.list_of(schemas.JOB), errors=(403,),
          operation_id="listJobs"),
    Route("POST", "/fetch", create_job, "Create a job (the caller becomes its owner)",
          tag="jobs", status=201,
          body=named("JobCreate", obj(_FIELDS, ("name", "endpoint", "execute_id"))),
          data=schemas.JOB, errors=(400, 403), operation_id="createJob"),
    Route("GET", "/fetch/{id}", get_job, "One job (members)", tag="jobs", data=schemas.JOB,
          errors=(403, 404), operation_id="getJob"),
    Route("GET", "/fetch/{job_id:uuid}/job", get_job_by_run_id,
          "The job whose next run, waiting run-now or past result carries this job_id "
          "(members)", tag="jobs", data=schemas.JOB,
          errors=(403, 404), operation_id="getJobByRunId"),
    Route("PATCH", "/fetch/{id}", update_job, "Update a job (owner, editor)", tag="jobs",
          body=named("JobUpdate", obj(_FIELDS)), data=schemas.JOB, errors=(400, 403, 404),
          operation_id="updateJob"),
    Route("DELETE", "/fetch/{id}", delete_job, "Delete a job with its results (owner)",
          tag="jobs", errors=(403, 404), operation_id="deleteJob"),
]
