"""When a schedule is due: pure functions over UTC times, no database.

Interval schedules are fixed-rate on a grid anchored where the job was scheduled;
cron schedules are evaluated in the schedule's IANA time zone with cronsim, which
handles daylight-saving gaps and repeats, and converted back to UTC at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

__all__ = ["INTERVAL_UNITS", "CRON_ALIASES", "normalize_cron", "check_timezone",
           "interval_of", "cron_next", "first_due", "next_due", "cron_preview"]

INTERVAL_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
CRON_ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def check_timezone(name: str) -> ZoneInfo:
    """The zone called ``name``; ValueError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


def normalize_cron(expression: str) -> str:
    """A valid 5-field expression (aliases expanded); ValueError otherwise."""
    text = " ".join(expression.split())
    text = CRON_ALIASES.get(text.lower(), text)
    if len(text.split(" ")) != 5:
        raise ValueError("must have 5 fields (minute hour day month weekday) or be one of "
                         + ", ".join(sorted(CRON_ALIASES)))
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=timezone.utc))
    except CronSimError as exc:
        raise ValueError(str(exc)) from None
    return text


def interval_of(kind: str, value: int) -> timedelta:
    return timedelta(seconds=INTERVAL_UNITS[kind] * value)


def cron_next(expression: str, zone: str, after: datetime) -> datetime:
    """The first match strictly after ``after`` (naive UTC), as naive UTC."""
    local = after.replace(tzinfo=timezone.utc).astimezone(check_timezone(zone))
    match = next(CronSim(normalize_cron(expression), local))
    return match.astimezone(timezone.utc).replace(tzinfo=None)


def first_due(kind: str, value: int | None, cron: str | None, zone: str,
              now: datetime) -> datetime:
    """When a job scheduled at ``now`` first runs."""
    if kind == "cron":
        return cron_next(cron or "", zone, now)
    return now + interval_of(kind, value or 0)


def next_due(kind: str, value: int | None, cron: str | None, zone: str,
             previous_due: datetime, now: datetime) -> datetime:
    """The due time after ``previous_due`` that is next to run at ``now``.

    Fixed rate: the next slot on the grid (or cron match). When a run overran and
    slots passed meanwhile, the latest passed slot is returned (run late at once,
    lateness recorded) and the earlier ones are skipped, never run in a burst.
    """
    if kind == "cron":
        due = cron_next(cron or "", zone, previous_due)
        if due <= now:  # overran: take the latest match that has passed
            latest = due
            while True:
                following = cron_next(cron or "", zone, latest)
                if following > now:
                    return latest
                latest = following
        return due
    step = interval_of(kind, value or 0)
    due = previous_due + step
    if due <= now:
        missed = (now - previous_due) // step
        due = previous_due + step * missed
    return due


def cron_preview(expression: str, zone: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` matches after ``after`` (naive UTC)."""
    times, current = [], after
    for _ in range(count):
        current = cron_next(expression, zone, current)
        times.append(current)
    return times
