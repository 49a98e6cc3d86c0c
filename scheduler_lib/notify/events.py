"""Events and the message each delivery sends (API.md section 11).

A delivery row keeps the event's *facts* (``job`` and ``run`` as they were when the
run ended); ``Message`` adds the delivery's id and the job's dashboard link when it
is sent, and renders the webhook body, the e-mail subject and the plain text.
The facts never hold header-preset values, API keys or a channel's secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["EVENTS", "TEST_EVENT", "Message", "run_facts", "job_facts"]

# Events a subscription may ask for, in the order the dashboard shows them.
EVENTS = ("failure", "recovery", "success", "paused")
TEST_EVENT = "test"

_TITLES = {
    "failure": "failed",
    "recovery": "recovered",
    "success": "succeeded",
    "paused": "was paused after repeated failures",
}


def job_facts(row: dict[str, Any]) -> dict[str, Any]:
    """The ``job`` part of a payload (without ``url``, added when sent)."""
    return {"id": row["id"], "name": row["name"], "type": row["type"],
            "method": row["method"], "endpoint": row["endpoint"],
            "consecutive_failures": row["consecutive_failures"]}


def run_facts(row: dict[str, Any]) -> dict[str, Any]:
    """The ``run`` part of a payload from the run's last attempt (times already ISO)."""
    return {key: row[key] for key in ("job_id", "attempt", "status_code", "success", "error",
                                      "scheduled_at", "started_at", "finished_at",
                                      "duration_ms", "result_id")}


@dataclass(frozen=True)
class Message:
    """One event as sent to one channel."""
    event: str
    delivery_id: str
    occurred_at: str
    job: dict[str, Any] | None = None
    run: dict[str, Any] | None = None

    @classmethod
    def from_facts(cls, event: str, delivery_id: str, facts: dict[str, Any],
                   public_url: str) -> Message:
        job = facts.get("job")
        if job is not None:
            job = {**job, "url": f"{public_url.rstrip('/')}/ui/#/jobs/{job['id']}"}
        return cls(event, delivery_id, facts["occurred_at"], job, facts.get("run"))

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"event": self.event, "delivery_id": self.delivery_id,
                                "occurred_at": self.occurred_at}
        if self.job is not None:
            body["job"] = self.job
        if self.run is not None:
            body["run"] = self.run
        return body

    def body_bytes(self) -> bytes:
        """The webhook body: the exact bytes that are signed and sent."""
        return json.dumps(self.payload(), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")

    def subject(self) -> str:
        if self.job is None:
            return "[scheduler] Test notification"
        return f"[scheduler] Job \"{self.job['name']}\" {_TITLES.get(self.event, self.event)}"

    def text(self) -> str:
        """The plain-text body of e-mails and Apprise messages: the payload's facts."""
        if self.job is None:
            return ("This is a test notification from scheduler: this channel works.\n\n"
                    f"Delivery: {self.delivery_id}\nSent at: {self.occurred_at}\n")
        job, run = self.job, self.run or {}
        lines = [f"Event: {self.event}", f"Job: {job['name']} (id {job['id']})",
                 f"Endpoint: {job['method'].upper()} {job['endpoint']}",
                 f"Consecutive failures: {job['consecutive_failures']}"]
        if run:
            status = run.get("status_code")
            lines += [
                f"Run: {run.get('job_id')} attempt {run.get('attempt')}",
                f"Outcome: {'success' if run.get('success') else 'failure'}"
                + (f", status {status}" if status is not None else ""),
            ]
            if run.get("error"):
                lines.append(f"Error: {run['error']}")
            lines += [f"Scheduled at: {run.get('scheduled_at')}",
                      f"Finished at: {run.get('finished_at')}",
                      f"Duration: {run.get('duration_ms')} ms"]
        lines += [f"Occurred at: {self.occurred_at}", f"Delivery: {self.delivery_id}", "",
                  f"Open the job: {job['url']}"]
        return "\n".join(lines) + "\n"
