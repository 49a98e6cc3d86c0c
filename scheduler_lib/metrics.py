"""Prometheus metrics of the process (prometheus-client's default registry).

The API records requests; the engine records runs. ``GET /metrics`` exposes them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

__all__ = ["REQUESTS", "REQUEST_LATENCY", "RUNS", "RUN_LATENESS", "RUNS_IN_FLIGHT",
           "RUNS_WAITING", "ACTIVE_JOBS", "DELIVERIES", "DELIVERY_LATENCY", "engine_families",
           "without_engine_families"]

REQUESTS = Counter("scheduler_http_requests_total", "HTTP requests by route and status.",
                   ["method", "route", "status"])
REQUEST_LATENCY = Histogram(
    "scheduler_http_request_duration_seconds", "HTTP request latency.", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
RUNS = Counter("scheduler_job_runs_total", "Job run attempts by outcome.", ["outcome"])
RUN_LATENESS = Histogram(
    "scheduler_job_run_lateness_seconds", "started_at - scheduled_at of job runs.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60))
RUNS_IN_FLIGHT = Gauge("scheduler_job_runs_in_flight", "Job runs executing now.")
RUNS_WAITING = Gauge("scheduler_job_runs_waiting", "Runs that are due but wait for a worker.")
ACTIVE_JOBS = Gauge("scheduler_active_jobs", "Jobs that are active.")
DELIVERIES = Counter(
    "scheduler_notify_deliveries_total",
    "Notification delivery tries by channel type and outcome (sent, retry, failed).",
    ["channel_type", "outcome"])
DELIVERY_LATENCY = Histogram(
    "scheduler_notify_delivery_latency_seconds",
    "From the event (a run's end) to its delivery being sent, by channel type.",
    ["channel_type"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))

# What the engine records; with the engine in its own process (engine/process.py) the
# API process asks it for these and shows its own for the rest.
_ENGINE_FAMILIES = frozenset({"scheduler_job_runs", "scheduler_job_run_lateness_seconds",
                              "scheduler_job_runs_in_flight", "scheduler_job_runs_waiting"})


class _Families:
    """The default registry's metric families, the engine's or all but those
    (``generate_latest`` takes anything with ``collect``)."""

    def __init__(self, engine: bool):
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        for family in REGISTRY.collect():
            if (family.name in _ENGINE_FAMILIES) == self.engine:
                yield family


def engine_families() -> _Families:
    return _Families(engine=True)


def without_engine_families() -> _Families:
    return _Families(engine=False)
