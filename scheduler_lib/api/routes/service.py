"""Service endpoints: /healthz, /readyz, /metrics and /openapi.json."""

from __future__ import annotations

import logging
import time

import peewee
from playhouse.pool import MaxConnectionsExceeded
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from ...context import AppContext
from ...db import database
from ...errors import ServiceUnavailable
from ...metrics import ACTIVE_JOBS, without_engine_families
from ...models import Job
from ..routing import Call, Reply, Route
from ..schemas import named

__all__ = ["ROUTES", "READY_TICK_SECONDS", "readiness_problem"]

log = logging.getLogger("scheduler.api")

# The engine's loop passes at least once a second (engine.dispatcher.MAX_WAIT); this
# much silence means it is stuck.
READY_TICK_SECONDS = 10.0


def healthz(call: Call) -> Reply:
    return Reply("OK")


def readiness_problem(ctx: AppContext) -> str | None:
    """Why this instance should not get traffic, or None when it is ready."""
    try:
        database.execute_sql("SELECT 1 FROM app_settings LIMIT 1").fetchall()
    except MaxConnectionsExceeded:
        return "Database connections are all in use"
    except peewee.PeeweeException as exc:
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        return "Database is not answering"
    engine = ctx.engine
    if engine is None:
        if ctx.settings.scheduler.enabled:
            return "Scheduler loop is not running"
        return None
    last_tick = engine.last_tick
    if last_tick is None:
        return "Scheduler loop has not started yet"
    silent = time.monotonic() - last_tick
    if silent > READY_TICK_SECONDS:
        return f"Scheduler loop has not ticked for {silent:.0f} s"
    return None


def readyz(call: Call) -> Reply:
    problem = readiness_problem(call.ctx)
    if problem is not None:
        raise ServiceUnavailable(problem)
    return Reply("Ready")


def _count_active_jobs() -> None:
    """Refresh the active-jobs gauge at each scrape: nothing else counts them (the
    engine stopped counting every few seconds: 19 ms a time at 100,000 jobs)."""
    try:
        ACTIVE_JOBS.set(Job.select().where(Job.is_active == True).count())  # noqa: E712
    except (peewee.PeeweeException, MaxConnectionsExceeded) as exc:
        # The scrape still answers with the other figures.
        log.warning("metrics: cannot count active jobs: %s", type(exc).__name__)


def metrics(call: Call) -> Reply:
    _count_active_jobs()
    engine = call.ctx.engine
    elsewhere = engine.metrics_text() if engine is not None else None
    if elsewhere is not None:   # the engine runs in its own process and counts there
        return Reply("", raw=generate_latest(without_engine_families()) + elsewhere)
    return Reply("", raw=generate_latest(REGISTRY))


def openapi(call: Call) -> Reply:
    # Built once by create_app from the routes it serves (no import of api.app here).
    return Reply("", raw=call.ctx.openapi_json)


_TEXT = named("MetricsText", {"type": "string"})

ROUTES = [
    Route("GET", "/healthz", healthz, "Liveness: the process serves requests", auth="none",
          tag="service", operation_id="getHealth"),
    Route("GET", "/readyz", readyz,
          "Readiness: the database answers and the scheduler loop is alive", auth="none",
          tag="service", errors=(503,), operation_id="getReadiness"),
    Route("GET", "/metrics", metrics, "Prometheus metrics (text exposition format)",
          auth="none", auth_option="metrics.require_auth", tag="service",
          media_type=CONTENT_TYPE_LATEST, data=_TEXT, operation_id="getMetrics"),
    Route("GET", "/openapi.json", openapi, "This OpenAPI 3.1 document", auth="none",
          tag="service", media_type="application/json",
          data=named("OpenApiDocument", {"type": "object"}),
          operation_id="getOpenApiDocument"),
]
