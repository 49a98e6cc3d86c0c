"""The exception tree. Every error the product raises on purpose is one of these.

    SchedulerError                 base of everything below
    ├── ConfigError                invalid configuration (CLI exit code 2)
    └── ApiError                   carries an HTTP status and a client-facing message
        ├── BadRequest             400 invalid body, query or path
        ├── Unauthorized           401 missing, invalid or expired credentials
        ├── Forbidden              403 authenticated but not allowed
        ├── NotFound               404 no such resource or route
        ├── Conflict               409 duplicate, or still referenced
        ├── PayloadTooLarge        413 body over server.max_body_bytes
        ├── UnsupportedMediaType   415 body is not JSON
        ├── TooManyRequests        429 throttled (may carry Retry-After)
        ├── BadGateway             502 a remote service (a notification channel) failed
        └── ServiceUnavailable     503 not ready

The API renders an ApiError as the JSON envelope with its status and message; any
other exception becomes a 500 whose message never leaks details.
"""

from __future__ import annotations

__all__ = [
    "SchedulerError", "ConfigError", "ApiError", "BadRequest", "Unauthorized",
    "Forbidden", "NotFound", "Conflict", "PayloadTooLarge", "UnsupportedMediaType",
    "TooManyRequests", "BadGateway", "ServiceUnavailable",
]


class SchedulerError(Exception):
    """Base class of the scheduler's own errors."""


class ConfigError(SchedulerError):
    """The configuration is invalid; the message names the key and the problem."""


class ApiError(SchedulerError):
    status = 500
    default_message = "Internal server error"

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None):
        self.message = message or self.default_message
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(ApiError):
    status = 400
    default_message = "Bad request"


class Unauthorized(ApiError):
    status = 401
    default_message = "Invalid token"


class Forbidden(ApiError):
    status = 403
    default_message = "Forbidden"


class NotFound(ApiError):
    status = 404
    default_message = "Not found"


class Conflict(ApiError):
    status = 409
    default_message = "Conflict"


class PayloadTooLarge(ApiError):
    status = 413
    default_message = "Request body too large"


class UnsupportedMediaType(ApiError):
    status = 415
    default_message = "Content-Type must be application/json"


class TooManyRequests(ApiError):
    status = 429
    default_message = "Too many requests"


class BadGateway(ApiError):
    status = 502
    default_message = "Bad gateway"


class ServiceUnavailable(ApiError):
    status = 503
    default_message = "Service unavailable"
