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

import collections
import json
import logging
import sys
import threading
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


class _Deferred(logging.Handler):
    """Collects records; a background thread formats and writes them a few times a second.

    Every HTTP request logs a line. Writing it in the request's thread under the
    handler's lock made the worker threads queue on that lock, and waking a writer
    thread per record cost a thread switch per request: either way the access log
    took about 40% of the API's throughput (bench/hotspots.py). Appending to a deque
    needs neither. ``logging.shutdown`` (at exit) and ``close`` write what is left.

    The queue holds at most ``capacity`` records: when the writer cannot keep up (a
    flood of requests, a blocked stderr) further records are dropped and counted,
    never waited for, and the next write says how many went missing.
    """

    def __init__(self, target: logging.StreamHandler[TextIO], interval: float = 0.1,
                 capacity: int = 10_000):
        super().__init__()
        self.target = target
        self._records: collections.deque[logging.LogRecord] = collections.deque()
        self._capacity = capacity
        self.dropped = 0        # records dropped since the last write said so
        self._interval = interval
        self._closed = threading.Event()
        self._writer = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._writer.start()

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if len(self._records) >= self._capacity:
            self.dropped += 1   # approximate under races; never blocks
            return
        self._records.append(record)  # atomic: no handler lock needed

    def _drain(self) -> None:
        """Format what is queued and write it with one write and one flush."""
        target = self.target
        lines = []
        while True:
            try:
                record = self._records.popleft()
            except IndexError:
                break
            try:
                lines.append(target.format(record) + target.terminator)
            except Exception:  # logging's own policy: report on stderr, go on
                target.handleError(record)
        dropped, self.dropped = self.dropped, 0
        if dropped:
            notice = logging.LogRecord(
                "scheduler.logs", logging.WARNING, __file__, 0,
                "%d log records dropped: the log writer could not keep up", (dropped,), None)
            lines.append(target.format(notice) + target.terminator)
        if not lines:
            return
        target.acquire()
        try:
            target.stream.write("".join(lines))
            target.flush()
        except Exception:  # as logging.StreamHandler.emit does
            target.handleError(record)
        finally:
            target.release()

    def _run(self) -> None:
        while not self._closed.wait(self._interval):
            self._drain()

    def flush(self) -> None:
        self._drain()
        self.target.flush()

    def close(self) -> None:
        self._closed.set()
        if self._writer is not threading.current_thread():
            self._writer.join(timeout=5)
        self.flush()
        super().close()


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send every log record at ``level`` or above to ``stream`` (stderr) as ``fmt``.

    Records are formatted and written by a background thread within a tenth of a
    second (and at exit), so that logging never makes request threads wait.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for previous in root.handlers:
        if isinstance(previous, _Deferred):
            previous.close()
    root.handlers[:] = [_Deferred(handler)]
    root.setLevel(level.upper())
    # Cheroot logs every dropped connection at error level; keep it quieter.
    logging.getLogger("cheroot").setLevel(max(logging.WARNING, root.level))
    # Peewee logs every SQL statement with its parameters at debug level, password
    # and API key hashes among them: those never reach the log, whatever the level.
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
