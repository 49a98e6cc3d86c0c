"""Job results ("fetch data"): one per run attempt, or recorded by hand.

``response`` is kept as text (a JSON value sent by hand is stored as its JSON
text) and shown parsed when it parses (``JobResult.to_json``). Results are only
reachable through their own job: another job's result id is 404.
"""

from __future__ import annotations

from typing import Any, cast

from peewee import fn

from ..db import database
from ..errors import BadRequest, NotFound
from ..models import IN_FLIGHT, JobResult, User
from ..timeutil import parse_iso, utcnow
from . import access
from .jobs import payload_text

__all__ = ["parse_since", "list_results", "create_result", "get_result", "update_result",
           "delete_result"]


def parse_since(text: str) -> Any:
    """A ``?since=`` query value as a naive UTC time; BadRequest when it is not one."""
    try:
        return parse_iso(text)
    except (ValueError, OverflowError):
        raise BadRequest("Query parameter 'since' must be an ISO 8601 time, "
                         "e.g. 2025-12-09T03:01:40Z") from None


def list_results(user: User, job_id: int, query: dict[str, Any]
                 ) -> tuple[list[JobResult], int]:
    """Newest first; ``status`` and ``since`` (created_at ≥) filter.

    Finished attempts (and results recorded by hand) only, or with ``status=running``
    the attempts in flight only: a running attempt is never counted as a failure.
    """
    job = access.require(user, job_id, access.READ)
    rows = JobResult.select().where(JobResult.job == job.id)
    status = query.get("status")
    if status == "running":
        rows = rows.where(IN_FLIGHT)
    else:
        rows = rows.where(~IN_FLIGHT)
    if status in ("success", "failure"):
        rows = rows.where(JobResult.success == (status == "success"))
    if query.get("since") is not None:
        rows = rows.where(JobResult.created_at >= parse_since(query["since"]))
    # The count comes with the page in one statement (a window function), so an attempt
    # that starts or ends between two queries cannot make X-Total-Count disagree with it.
    page = list(rows.select_extend(fn.COUNT(JobResult.id).over().alias("total_rows"))
                .order_by(JobResult.created_at.desc(), JobResult.id.desc())
                .limit(query["limit"]).offset(query["offset"]))
    if page:
        total = cast(Any, page[0]).total_rows
    else:   # an empty first page is an empty list; past the end, a count is needed
        total = rows.count() if query["offset"] else 0
    return page, total


def _result(job_id: int, result_id: int) -> JobResult:
    result = JobResult.get_or_none(JobResult.id == result_id, JobResult.job == job_id)
    if result is None:
        raise NotFound(f"Fetch data with id {result_id} not found")
    return result


def create_result(user: User, job_id: int, body: dict[str, Any]) -> JobResult:
    """A result recorded by hand: no run, so no run id (``job_id``) and no run times."""
    job = access.require(user, job_id, access.WRITE)
    status_code = body.get("status_code")
    success = body.get("success")
    if success is None:
        success = status_code is not None and 200 <= status_code < 300
    now = utcnow()
    return JobResult.create(
        job=job.id, run_id=None, name=body["name"], status_code=status_code,
        response=payload_text(body.get("response"), "response"),
        response_headers=body.get("response_headers") or {}, error=body.get("error"),
        success=success, attempt=1, created_at=now, updated_at=now)


def get_result(user: User, job_id: int, result_id: int) -> JobResult:
    job = access.require(user, job_id, access.READ)
    return _result(job.id, result_id)


def update_result(user: User, job_id: int, result_id: int,
                  changes: dict[str, Any]) -> JobResult:
    with database.atomic():
        job = access.require(user, job_id, access.WRITE)
        result = _result(job.id, result_id)
        for name in ("name", "status_code", "error", "success"):
            if name in changes:
                setattr(result, name, changes[name])
        if "response" in changes:
            result.response = payload_text(changes["response"], "response")
        if "response_headers" in changes:
            result.response_headers = changes["response_headers"] or {}
        result.updated_at = utcnow()
        result.save()
    return result


def delete_result(user: User, job_id: int, result_id: int) -> None:
    with database.atomic():
        job = access.require(user, job_id, access.OWNER)
        _result(job.id, result_id).delete_instance()
