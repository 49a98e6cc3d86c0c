"""A node's id: what names this ``serve`` in leases and claims (engine, sender).

Its own module so that the API process of ``serve`` can name itself without loading
the engine (which runs in its own process: ``engine.process``).
"""

from __future__ import annotations

import os
import socket
import uuid

__all__ = ["default_node_id"]


def default_node_id() -> str:
    """``host-pid-random``: the pid is the ``serve`` process's."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
