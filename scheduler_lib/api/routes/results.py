"""/fetch/{fetch_id}/data: a job's results."""

from __future__ import annotations

from ...services import results
from .. import schemas
from ..routing import Call, Reply, Route
from ..schemas import named
from ..validation import obj

_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 300},
    "status_code": {"type": ["integer", "null"], "minimum": 100, "maximum": 599},
    "response": {"description": "Text, or any JSON value (stored as its JSON text)."},
    "response_headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "error": {"type": ["string", "null"], "maxLength": 10000},
    "success": {"type": "boolean", "description": "Default: whether status_code is 2xx."},
}


def list_results(call: Call) -> Reply:
    rows, total = results.list_results(call.user, call.params["fetch_id"], call.query)
    return Reply("List fetch data", [r.to_json() for r in rows], total=total)


def create_result(call: Call) -> Reply:
    result = results.create_result(call.user, call.params["fetch_id"], call.body)
    return Reply("Fetch data created!", result.to_json())


def get_result(call: Call) -> Reply:
    return Reply("Success!", results.get_result(call.user, call.params["fetch_id"],
                                                call.params["id"]).to_json())


def update_result(call: Call) -> Reply:
    result = results.update_result(call.user, call.params["fetch_id"], call.params["id"],
                                   call.body)
    return Reply("Fetch data updated!", result.to_json())


def delete_result(call: Call) -> Reply:
    results.delete_result(call.user, call.params["fetch_id"], call.params["id"])
    return Reply("Fetch data deleted!")


ROUTES = [
    Route("GET", "/fetch/{fetch_id}/data", list_results, "A job's results, newest first",
          tag="results", paginated=True,
          query={"status": {"enum": ["success", "failure", "running"],
                            "description": "Finished attempts that succeeded or failed, "
                                           "or the attempts in flight (running); "
                                           "without it, every finished attempt."},
                 "since": {"type": "string", "format": "date-time",
                           "description": "Only results created at or after this time."}},
          data=schemas.list_of(schemas.RESULT), errors=(400, 403, 404), operation_id="listResults"),
    Route("POST", "/fetch/{fetch_id}/data", create_result,
          "Record a result by hand (owner, editor)", tag="results", status=201,
          body=named("ResultCreate", obj(_FIELDS, ("name",))), data=schemas.RESULT,
          errors=(400, 403, 404),
          operation_id="createResult"),
    Route("GET", "/fetch/{fetch_id}/data/{id}", get_result, "One result (members)",
          tag="results", data=schemas.RESULT, errors=(403, 404), operation_id="getResult"),
    Route("PATCH", "/fetch/{fetch_id}/data/{id}", update_result,
          "Update a result (owner, editor)", tag="results",
          body=named("ResultUpdate", obj(_FIELDS)),
          data=schemas.RESULT, errors=(400, 403, 404), operation_id="updateResult"),
    Route("DELETE", "/fetch/{fetch_id}/data/{id}", delete_result, "Delete a result (owner)",
          tag="results", errors=(403, 404), operation_id="deleteResult"),
]
