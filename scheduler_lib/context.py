"""What a running instance shares between the API, the engine and the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .config import Settings
from .db import after_commit, announce_jobs_changed

__all__ = ["AppContext", "EngineHandle"]


class EngineHandle(Protocol):
    """What the API and services may ask of the scheduling engine."""

    last_tick: float | None   # time.monotonic() of the dispatcher's last loop pass

    def wake(self) -> None:
        """Jobs or schedules changed (or a run was asked for): look at the due times now."""

    def metrics_text(self) -> bytes | None:
        """The engine's metrics when it counts them in another process, else None."""


@dataclass
class AppContext:
    settings: Settings
    jwt_secret: str
    # A bcrypt hash checked when a login names no user, so that both answers take
    # about the same time.
    dummy_password_hash: str
    # The running engine, when this process runs one (set by server.Instance).
    engine: EngineHandle | None = None
    # GET /openapi.json: the document of the routes this instance serves, as JSON
    # (built once, by api.app.create_app).
    openapi_json: bytes = b""

    def jobs_changed(self) -> None:
        """Tell the engine (if any) that jobs or schedules changed; on PostgreSQL the
        other nodes' engines too (``engine/wakeups.py``). Inside a ``unit_of_work``
        that happens once the change has committed."""
        after_commit(self._announce)

    def _announce(self) -> None:
        if self.engine is not None:
            self.engine.wake()
        announce_jobs_changed()
