"""GET / : the service answers."""

from __future__ import annotations

from ... import __version__
from ..routing import Call, Reply, Route
from ..schemas import named


def home(call: Call) -> Reply:
    return Reply("Scheduler API Running", {"version": __version__})


ROUTES = [
    Route("GET", "/", home, "Service banner with the version", auth="none", tag="service",
          data=named("ServiceInfo", {"type": "object",
                                     "properties": {"version": {"type": "string"}}}),
          operation_id="getServiceInfo"),
]
