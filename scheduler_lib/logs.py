"""Logging setup: plain text lines or JSON lines on stderr.

Loggers: ``scheduler.access`` (one line per HTTP request: method, path, status,
duration, request id, user id), ``scheduler.engine`` (job runs with job id and
outcome), ``scheduler.*`` for the rest. A record may carry structured ``fields``
(``extra={"fields": {...}}``): the JSON format writes them as keys of the line,
the text format already has them in the message.

Secrets are never logged: no request or response bodies, no Authorization or
X-API-Key headers, no passwords; database URLs go through ``db.describe_url``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from .timeutil import iso

__all__ = ["configure", "JsonFormatter", "TEXT_FORMAT"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC).replace(tzinfo=None)
        entry = {"time": iso(created), "level": record.levelname.lower(),
                 "logger": record.name, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send every log record at ``level`` or above to ``stream`` (stderr) as ``fmt``."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Cheroot logs every dropped connection at error level; keep it quieter.
    logging.getLogger("cheroot").setLevel(max(logging.WARNING, root.level))
    # Peewee logs every SQL statement with its parameters at debug level, password
    # and API key hashes among them: those never reach the log, whatever the level.
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
