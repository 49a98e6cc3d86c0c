"""The route table and the one wrapper every endpoint goes through.

A ``Route`` declares method, path, who may call it, the JSON Schemas of its body
and query, and its handler. ``endpoint`` turns it into a Bottle callback that
enforces the body limit and content type, authenticates, validates, calls the
handler with a ``Call`` and renders its ``Reply`` (or an ``ApiError``, or any
unexpected exception) as the envelope. The OpenAPI document is generated from the
same ``Route`` objects.

A write (POST, PATCH, DELETE) runs its handler and writes its audit entry
(``services/audit.py``) in one ``unit_of_work``: the change and its entry commit
together, and a request that fails rolls back both. Its ``changed`` fields are the
body's, compared with the resource before (the same path's GET, read in the same
transaction) and after (the reply's data).

Every request, routed or not, gets a request id (``X-Request-ID``: the client's if
it is sane, else a new one), one access-log line and its request metrics, labelled
by route template, never by raw path: ``start_request``/``finish_request`` are the
app's before/after hooks.

Paths use OpenAPI syntax: ``{name}`` is a positive integer id, ``{name:uuid}`` a
UUID-shaped string.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bottle

from ..clientaddr import client_address
from ..context import AppContext
from ..db import is_busy_error, unit_of_work
from ..errors import ApiError, BadRequest, Forbidden, PayloadTooLarge, UnsupportedMediaType
from ..metrics import REQUEST_LATENCY, REQUESTS
from ..models import User
from ..services import audit
from ..services.apikeys import SCOPES
from ..services.identity import Identity, authenticate
from ..timeutil import from_epoch, iso_seconds
from .validation import PAGINATION, obj, parse_json, parse_query, validate_body, validator_for

__all__ = ["Route", "Call", "Reply", "NO_DATA", "endpoint", "render", "envelope",
           "bottle_path", "openapi_path", "PATH_ID_PATTERN", "start_request", "finish_request",
           "request_id", "UNMATCHED_ROUTE", "KNOWN_METHODS", "OTHER_METHOD",
           "SCOPE_DENIED", "required_scope"]

log = logging.getLogger("scheduler.api")
access_log = logging.getLogger("scheduler.access")

# Route label of requests that matched no route (404, 405): a constant, so that
# scanners probing random paths cannot blow up the metrics' cardinality.
UNMATCHED_ROUTE = "(unmatched)"
# Method label and log field of requests with any other method: made-up methods
# must not create a metrics label set (or a log field value) each.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
SCOPE_DENIED = "API key scope does not allow this"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Keys of the per-request state kept in the WSGI environ.
_STARTED, _RID, _ROUTE, _USER = ("scheduler.started", "scheduler.request_id",
                                 "scheduler.route", "scheduler.user_id")

NO_DATA = object()
WRITE_METHODS = ("POST", "PATCH", "DELETE")
_VERBS = {"POST": "create", "PATCH": "update", "DELETE": "delete"}
# Ids are positive and fit a signed 64-bit column; anything else is no route (404).
PATH_ID_PATTERN = r"[1-9][0-9]{0,17}"
_UUID_PATTERN = r"[0-9A-Za-z-]{1,64}"
_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[Call], Reply]
    summary: str
    # The OpenAPI operationId, camelCase, verb first ("listJobs", "login"); generated
    # clients name their functions after it. ``body`` and ``data`` schemas are
    # ``schemas.named`` (``data`` may be a ``list_of`` one): see api/schemas.py.
    operation_id: str = ""
    auth: str = "user"                       # "none", "user" or "superuser"
    body: dict[str, Any] | None = None       # JSON Schema of the body; None: no body
    query: dict[str, Any] | None = None      # properties of the accepted query parameters
    paginated: bool = False                  # adds limit/offset and X-Total-Count
    status: int = 200                        # status of a success
    tag: str = ""
    data: dict[str, Any] | None = None       # JSON Schema of the success ``data``
    errors: tuple[int, ...] = ()             # error statuses worth documenting
    # The success body is ``Reply.raw`` of this media type instead of the envelope.
    media_type: str | None = None
    # A boolean setting that, when true, makes the route superuser-only.
    auth_option: str | None = None
    # Account-level: API keys need the ``admin`` scope (managing keys, the profile).
    admin_only: bool = False
    # The answer carries credentials: ``Cache-Control: no-store``, errors included.
    no_store: bool = False
    # The audit action of a write ("job.update"); default "<tag without s>.<verb>".
    action: str | None = None
    # False: the handler writes its own audit entries (login, refresh, logout).
    audited: bool = True
    # Slow work that needs no transaction (bcrypt), done before a write's opens; its
    # result is ``Call.prepared``.
    prepare: Callable[[Call], Any] | None = None

    @property
    def audit_action(self) -> str:
        return self.action or f"{self.tag.removesuffix('s')}.{_VERBS[self.method]}"


@dataclass
class Call:
    """One request as a handler sees it."""
    ctx: AppContext
    params: dict[str, Any]
    query: dict[str, Any]
    body: dict[str, Any]
    identity: Identity | None
    client_addr: str
    headers: Any
    prepared: Any = None                     # what the route's ``prepare`` returned

    @property
    def user(self) -> User:
        assert self.identity is not None, "route declared auth='none'"
        return self.identity.user

    def actor(self) -> audit.Actor:
        """Who makes this request, for the audit log (no user on unauthenticated
        routes: login and refresh name theirs with ``Actor.as_user``)."""
        identity = self.identity
        api_key = identity.api_key if identity is not None else None
        actor = audit.Actor(via="token" if api_key is None else "apikey",
                            api_key_id=None if api_key is None else api_key.id,
                            remote_addr=self.client_addr, request_id=request_id())
        return actor if identity is None else actor.as_user(identity.user)


@dataclass
class Reply:
    message: str
    data: Any = NO_DATA
    status: int | None = None
    total: int | None = None                 # X-Total-Count for lists
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None                 # the body itself (routes with a media_type)


def bottle_path(path: str) -> str:
    def convert(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        pattern = _UUID_PATTERN if kind == "uuid" else PATH_ID_PATTERN
        return f"<{name}:re:{pattern}>"
    return _PARAM.sub(convert, path)


def openapi_path(path: str) -> str:
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _path_params(path: str, url_args: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for match in _PARAM.finditer(path):
        name, kind = match.group(1), match.group(2)
        params[name] = url_args[name] if kind == "uuid" else int(url_args[name])
    return params


_stamp: tuple[int, str] = (0, "")


def _envelope_timestamp() -> str:
    """``iso_seconds`` of now, formatted once per second rather than once per response."""
    global _stamp
    now = int(time.time())
    if _stamp[0] != now:
        _stamp = (now, iso_seconds(from_epoch(now)))
    return _stamp[1]


def envelope(status: int, message: str, path: str, data: Any = NO_DATA) -> bytes:
    """The JSON envelope of API.md section 1, as bytes."""
    body: dict[str, Any] = {
        "success": 200 <= status < 300,
        "status": status,
        "message": message,
        "path": path,
        "timestamp": _envelope_timestamp(),
    }
    if data is not NO_DATA:
        body["data"] = data
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def render(status: int, message: str, data: Any = NO_DATA) -> bytes:
    """The envelope of the current response; sets status and content type."""
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    return envelope(status, message, bottle.request.environ.get("PATH_INFO", "/"), data)


def required_scope(route: Route, auth: str) -> str:
    """The weakest API key scope that may call ``route``."""
    if route.admin_only or auth == "superuser":
        return "admin"
    return "read" if route.method == "GET" else "write"


def _check_scope(identity: Identity, needed: str, query: dict[str, Any]) -> None:
    key = identity.api_key
    if key is None:
        return  # tokens may do everything their user may
    if query.get("all") is True:
        needed = "admin"   # everyone's resources: a superuser route in disguise
    if SCOPES.index(key.scope) < SCOPES.index(needed):
        raise Forbidden(SCOPE_DENIED)


def _read_body(max_bytes: int) -> bytes:
    environ = bottle.request.environ
    length_header = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length_header:
        try:
            length = int(length_header)
        except ValueError:
            raise BadRequest("Invalid Content-Length header") from None
        if length > max_bytes:
            raise PayloadTooLarge()
        return stream.read(length) if length > 0 else b""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        raw = stream.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise PayloadTooLarge()
        return raw
    return b""


def _parse_body(route: Route, raw: bytes, validator: Any) -> dict[str, Any]:
    if not raw.strip():
        value: Any = {}
    else:
        content_type = bottle.request.environ.get("CONTENT_TYPE", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise UnsupportedMediaType()
        value = parse_json(raw)
    if validator is None:
        if value != {}:
            raise BadRequest("This endpoint takes no request body")
        return {}
    return validate_body(validator, value)


def query_schema(route: Route) -> dict[str, Any] | None:
    properties = dict(PAGINATION) if route.paginated else {}
    properties.update(route.query or {})
    return obj(properties) if properties else None


def request_id() -> str:
    """The id of the request being served."""
    return bottle.request.environ.get(_RID, "")


def start_request() -> None:
    """Before any routing: note the start time and settle the request id."""
    environ = bottle.request.environ
    environ[_STARTED] = time.perf_counter()
    sent = environ.get("HTTP_X_REQUEST_ID", "")
    # Unique enough to find a request in the logs; needs no system call (uuid4 does).
    rid = sent if _REQUEST_ID.fullmatch(sent) else f"{random.getrandbits(128):032x}"
    environ[_RID] = rid
    bottle.response.set_header("X-Request-ID", rid)


_metric_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _request_metrics(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram of these labels (``labels()`` is slow)."""
    key = (method, route, status)
    children = _metric_children.get(key)
    if children is None:
        children = (REQUESTS.labels(method, route, str(status)),
                    REQUEST_LATENCY.labels(method, route))
        _metric_children[key] = children
    return children


def finish_request() -> None:
    """After the handler: count, time and log the request (never headers or bodies)."""
    environ = bottle.request.environ
    started = environ.get(_STARTED)
    if started is None:
        return
    duration = time.perf_counter() - started
    method = environ.get("REQUEST_METHOD", "")
    if method not in KNOWN_METHODS:
        method = OTHER_METHOD
    route = environ.get(_ROUTE)
    if route is None:
        # A route outside the table (the dashboard's static files) has its Bottle rule.
        matched = environ.get("bottle.route")
        route = matched.rule if matched is not None else UNMATCHED_ROUTE
    status = bottle.response.status_code
    counter, latency = _request_metrics(method, route, status)
    counter.inc()
    latency.observe(duration)
    if access_log.isEnabledFor(logging.INFO):
        path = environ.get("PATH_INFO", "/")
        rid = environ.get(_RID, "")
        user_id = environ.get(_USER)
        duration_ms = round(duration * 1000, 2)
        # makeRecord + handle is Logger.info without the caller lookup (a stack walk
        # per request, for a file and line this line would always be).
        access_log.handle(access_log.makeRecord(
            access_log.name, logging.INFO, __file__, 0,
            "%s %s %d %.2fms request_id=%s user_id=%s", (
                method, path, status, duration_ms, rid, "-" if user_id is None else user_id),
            None, extra={"fields": {"method": method, "path": path, "route": route,
                                    "status": status, "duration_ms": duration_ms,
                                    "request_id": rid, "user_id": user_id,
                                    "client": client_address(environ)}}))


def _data(reply: Reply) -> dict[str, Any]:
    return reply.data if isinstance(reply.data, dict) else {}


def _audited_call(route: Route, reader: Route | None, call: Call) -> Reply:
    """Run a write's handler and record it, in one transaction."""
    with unit_of_work():
        before: dict[str, Any] = {}
        if reader is not None:
            try:
                before = _data(reader.handler(call))
            except ApiError:
                pass  # the write itself answers (with the same refusal, or its own)
        reply = route.handler(call)
        after = _data(reply)
        params = call.params
        resource = route.audit_action.split(".", 1)[0]
        resource_id = next((value for value in (after.get("id"), params.get("id"),
                                                params.get("user_id"), after.get("user_id"))
                            if isinstance(value, int)), None)
        job_id = params.get("fetch_id") or after.get("fetch_id")
        if resource == "job":
            job_id = resource_id
        changed = audit.changed_fields(call.body, before, after)
        audit.record(call.actor(), audit.refine_action(route.audit_action, changed, after),
                     resource=resource, resource_id=resource_id, job_id=job_id,
                     changed=changed)
    return reply


def endpoint(route: Route, ctx: AppContext, reader: Route | None = None
             ) -> Callable[..., bytes]:
    """The Bottle callback for ``route``; ``reader`` is the GET of the same path, which
    shows an updated resource as it was before (for the audit log's ``changed``)."""
    audited = route.audited and route.method in WRITE_METHODS
    body_validator = validator_for(route.body) if route.body is not None else None
    query = query_schema(route)
    query_validator = validator_for(query) if query else None
    max_body = ctx.settings.server.max_body_bytes
    auth = route.auth
    if route.auth_option and ctx.settings[route.auth_option]:
        auth = "superuser"
    scope = required_scope(route, auth)

    def callback(**url_args: str) -> bytes:
        request = bottle.request
        environ = request.environ
        environ[_ROUTE] = route.path
        if route.no_store:
            bottle.response.set_header("Cache-Control", "no-store")
        try:
            raw = _read_body(max_body)
            identity = None
            if auth != "none":
                identity = authenticate(ctx, environ.get("HTTP_AUTHORIZATION"),
                                        environ.get("HTTP_X_API_KEY"))
                environ[_USER] = identity.user.id
                if auth == "superuser" and not identity.user.is_superuser:
                    raise Forbidden("Superuser access required")
            query_values = parse_query(query_validator, request.query) if query_validator else {}
            if identity is not None:
                _check_scope(identity, scope, query_values)
            call = Call(
                ctx=ctx,
                params=_path_params(route.path, url_args),
                query=query_values,
                body=_parse_body(route, raw, body_validator),
                identity=identity,
                client_addr=client_address(environ),
                headers=request.headers,
            )
            if route.prepare is not None:
                call.prepared = route.prepare(call)
            reply = _audited_call(route, reader, call) if audited else route.handler(call)
        except ApiError as exc:
            for name, value in exc.headers.items():
                bottle.response.set_header(name, value)
            return render(exc.status, exc.message)
        except Exception as exc:
            if is_busy_error(exc):
                log.warning("database busy in %s %s: %s", route.method, route.path, exc)
                bottle.response.set_header("Retry-After", "1")
                return render(503, "Database is busy, try again")
            log.exception("unhandled error in %s %s", route.method, route.path)
            return render(500, "Internal server error")
        for name, value in reply.headers.items():
            bottle.response.set_header(name, value)
        if reply.raw is not None:
            bottle.response.status = reply.status or route.status
            bottle.response.content_type = route.media_type or "application/octet-stream"
            return reply.raw
        if reply.total is not None:
            bottle.response.set_header("X-Total-Count", str(reply.total))
        return render(reply.status or route.status, reply.message, reply.data)

    return callback
