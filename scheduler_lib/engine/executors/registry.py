"""The job types the engine can run, by the name a job's ``type`` carries.

A new job type is one module in this package plus one line here (see the package
docstring for the whole recipe).
"""

from __future__ import annotations

from . import Executor
from .rest import HttpExecutor
from .websocket import WebSocketExecutor

__all__ = ["EXECUTORS"]

EXECUTORS: dict[str, type[Executor]] = {
    "rest": HttpExecutor,
    "websocket": WebSocketExecutor,
}
