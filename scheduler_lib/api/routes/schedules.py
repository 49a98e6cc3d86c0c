"""/fetch/execute: schedules, and a preview of a would-be schedule's next runs."""

from __future__ import annotations

from ...errors import BadRequest
from ...services import schedules
from ...services.schedules import SCHEDULE_TYPES
from .. import schemas
from ..routing import Call, Reply, Route
from ..schemas import named
from ..validation import obj

_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_TYPE = {"enum": list(SCHEDULE_TYPES)}
_VALUE = {"type": ["integer", "null"], "minimum": 1, "maximum": 10 * 366 * 86400,
          "description": "Interval length in units of `type` (interval types)."}
_CRON = {"type": ["string", "null"], "minLength": 1, "maxLength": 200,
         "description": "5-field cron expression or @hourly/@daily/@weekly/@monthly/@yearly."}
_TIMEZONE = {"type": "string", "minLength": 1, "maxLength": 64, "description": "IANA zone name."}
_FIELDS = {"name": _NAME, "is_repeat": {"type": "boolean"}, "type": _TYPE, "value": _VALUE,
           "cron": _CRON, "timezone": _TIMEZONE}
_ALL = {"all": {"type": "boolean", "default": False,
                "description": "Everyone's schedules (superusers only)."}}


def list_schedules(call: Call) -> Reply:
    rows, total = schedules.list_schedules(call.user, call.query)
    return Reply("List get api execute", [s.to_json() for s in rows], total=total)


def create_schedule(call: Call) -> Reply:
    return Reply("Api execute created!",
                 schedules.create_schedule(call.ctx, call.user, call.body).to_json())


def get_schedule(call: Call) -> Reply:
    return Reply("Success get api execute",
                 schedules.get_schedule(call.user, call.params["id"]).to_json())


def update_schedule(call: Call) -> Reply:
    schedule = schedules.update_schedule(call.ctx, call.user, call.params["id"], call.body)
    return Reply("Api execute updated!", schedule.to_json())


def delete_schedule(call: Call) -> Reply:
    schedules.delete_schedule(call.ctx, call.user, call.params["id"])
    return Reply("Api execute deleted!")


def preview(call: Call) -> Reply:
    if call.query.get("type") is None:
        raise BadRequest("Query parameter 'type' is required")
    return Reply("Next run times", schedules.preview(call.ctx, call.query))


ROUTES = [
    Route("GET", "/fetch/execute", list_schedules, "The caller's schedules", tag="schedules",
          paginated=True, query=_ALL, data=schemas.list_of(schemas.SCHEDULE), errors=(403,),
          operation_id="listSchedules"),
    Route("POST", "/fetch/execute", create_schedule, "Create a schedule", tag="schedules",
          status=201, body=named("ScheduleCreate", obj(_FIELDS, ("name", "type"))),
          data=schemas.SCHEDULE,
          errors=(400,), operation_id="createSchedule"),
    Route("GET", "/fetch/execute/preview", preview,
          "Next due times of a would-be schedule (from now)", tag="schedules",
          query={"type": _TYPE, "value": {"type": "integer", "minimum": 1},
                 "cron": {"type": "string", "minLength": 1, "maxLength": 200},
                 "timezone": {**_TIMEZONE, "default": "UTC"},
                 "count": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5}},
          data=named("NextRunTimes", schemas.list_of(schemas.TIMESTAMP)), errors=(400,),
          operation_id="previewSchedule"),
    Route("GET", "/fetch/execute/{id}", get_schedule, "One schedule", tag="schedules",
          data=schemas.SCHEDULE, errors=(403, 404), operation_id="getSchedule"),
    Route("PATCH", "/fetch/execute/{id}", update_schedule,
          "Update a schedule (reschedules its active jobs)", tag="schedules",
          body=named("ScheduleUpdate", obj(_FIELDS)), data=schemas.SCHEDULE, errors=(400, 403, 404),
          operation_id="updateSchedule"),
    Route("DELETE", "/fetch/execute/{id}", delete_schedule,
          "Delete a schedule no job uses", tag="schedules", errors=(403, 404, 409),
          operation_id="deleteSchedule"),
]
