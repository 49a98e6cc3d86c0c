"""The Bottle application factory."""

from __future__ import annotations

import json

import bottle

from ..clientaddr import parse_trusted_proxies, remember_client_address
from ..context import AppContext
from ..db import release_connection
from .dashboard import add_dashboard
from .openapi import build_document
from .routes import (
    apikeys,
    audit,
    headers,
    home,
    jobs,
    members,
    notify,
    results,
    runs,
    schedules,
    service,
    sessions,
    users,
)
from .routing import (
    Route,
    bottle_path,
    endpoint,
    finish_request,
    render,
    request_id,
    start_request,
)

__all__ = ["ROUTE_MODULES", "all_routes", "create_app"]

# Every resource's routes; the OpenAPI document is built from this same list.
ROUTE_MODULES = (home, sessions, users, apikeys, service, schedules, headers, jobs, members,
                 results, runs, notify, audit)

_FIXED_MESSAGES = {404: "Not found", 405: "Method not allowed", 413: "Request body too large",
                   500: "Internal server error"}


def all_routes() -> list[Route]:
    return [route for module in ROUTE_MODULES for route in module.ROUTES]


def _error_page(error: bottle.HTTPError) -> bytes:
    """Bottle's own errors (unknown path, wrong method, crash) in the envelope."""
    status = error.status_code
    message = _FIXED_MESSAGES.get(status) or error.status_line.split(" ", 1)[-1]
    # Bottle replaced the response headers with the error's: set the request id again.
    bottle.response.set_header("X-Request-ID", request_id())
    return render(status, message)


def create_app(ctx: AppContext) -> bottle.Bottle:
    app = bottle.Bottle(catchall=True)
    app.config["json.enable"] = False  # every route renders its own envelope
    app.default_error_handler = _error_page
    app.add_hook("before_request", start_request)
    trusted = parse_trusted_proxies(ctx.settings.server.trusted_proxies)
    app.add_hook("before_request",
                 lambda: remember_client_address(bottle.request.environ, trusted))
    app.add_hook("after_request", finish_request)
    # A PostgreSQL connection goes back to the pool as soon as its request is answered.
    app.add_hook("after_request", release_connection)
    routes = all_routes()
    # Built once, from the routes served: GET /openapi.json hands out these bytes.
    ctx.openapi_json = json.dumps(build_document(routes, ctx.settings),
                                  ensure_ascii=False).encode()
    readers = {route.path: route for route in routes if route.method == "GET"}
    for route in routes:
        reader = readers.get(route.path) if route.method == "PATCH" else None
        app.route(bottle_path(route.path), route.method, endpoint(route, ctx, reader))
    add_dashboard(app)
    return app
