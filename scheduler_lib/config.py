"""Configuration: one table of options drives parsing, validation and docs.

Sources, strongest first: CLI flags > environment (``SCHEDULER_<SECTION>_<KEY>``)
> TOML file > the default in ``OPTIONS``. ``load_settings`` returns a frozen
``Settings``; any invalid value raises ``ConfigError`` naming the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .clientaddr import parse_trusted_proxies
from .errors import ConfigError

__all__ = ["Option", "OPTIONS", "Settings", "load_settings", "env_name"]


@dataclass(frozen=True)
class Option:
    key: str                      # "section.name"
    kind: type                    # int, str or bool
    default: Any
    help: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False          # never printed
    check: Callable[[Any], Any] | None = None   # raises ValueError for a bad value


OPTIONS: tuple[Option, ...] = (
    Option("server.host", str, "127.0.0.1", "Address the HTTP server binds to."),
    Option("server.port", int, 8000, "TCP port of the HTTP server (0 picks a free one).",
           minimum=0, maximum=65535),
    Option("server.max_body_bytes", int, 1048576, "Largest accepted request body; larger is 413.",
           minimum=1),
    Option("server.threads", int, 32, "Cheroot worker threads serving HTTP requests.",
           minimum=1, maximum=1024),
    Option("server.public_url", str, None,
           "Base URL of the dashboard in notification links (unset: http://<host>:<port>)."),
    Option("server.max_header_bytes", int, 65536,
           "Largest request line plus headers; larger is 431.", minimum=1024),
    Option("server.trusted_proxies", str, None,
           "Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is "
           "believed (throttling, logs, audit).", check=parse_trusted_proxies),
    Option("database.url", str, "sqlite:///scheduler.db",
           "sqlite:///relative.db, sqlite:////absolute/path.db or postgresql://user@host:port/db."),
    Option("database.max_connections", int, 20,
           "PostgreSQL: most connections one process opens (a pool shared by its threads).",
           minimum=2, maximum=1000),
    Option("auth.jwt_secret", str, None,
           "HS256 signing secret; when unset one is generated once and kept in the database.",
           secret=True),
    Option("auth.access_ttl_seconds", int, 900, "Lifetime of access tokens.", minimum=1),
    Option("auth.refresh_ttl_seconds", int, 604800, "Lifetime of refresh tokens.", minimum=1),
    Option("auth.bcrypt_rounds", int, 12, "bcrypt cost factor for password hashes.",
           minimum=4, maximum=31),
    Option("auth.login_max_failures", int, 10,
           "Failed logins per identifier and client address allowed within the window.",
           minimum=1),
    Option("auth.login_max_failures_per_account", int, 50,
           "Failed logins of one account allowed within the window, from all addresses.",
           minimum=1),
    Option("auth.login_window_seconds", int, 300, "Window of the login throttle.", minimum=1),
    Option("scheduler.enabled", bool, True,
           "Run the scheduling engine (false: this node serves the API only)."),
    Option("scheduler.engine_process", bool, True,
           "serve: run the engine in a child process beside the API process, so that they "
           "do not share one interpreter lock (false: both in one process)."),
    Option("scheduler.workers", int, 100,
           "Job runs executed at once (requests in flight on the engine's event loop).",
           minimum=1, maximum=10000),
    Option("scheduler.min_interval_seconds", int, 1, "Shortest interval a schedule may have.",
           minimum=1),
    Option("scheduler.misfire", str, "run_once",
           "Runs missed while down: run_once (one catch-up run) or skip.",
           choices=("run_once", "skip")),
    Option("scheduler.lease_seconds", int, 30,
           "How long a node's claim on a run lasts unless renewed (multi-node).", minimum=1),
    Option("scheduler.shutdown_grace_seconds", int, 30,
           "On SIGTERM, how long running jobs may take to finish.", minimum=0),
    Option("fetch.max_response_bytes", int, 1048576,
           "Response bodies are cut at this size (response_truncated: true).", minimum=1),
    Option("fetch.deny_private_networks", bool, False,
           "Targets (jobs, webhooks, Apprise) must resolve only to globally routable "
           "addresses; superusers' jobs are exempt."),
    Option("limits.max_jobs_per_user", int, 0,
           "Jobs one user may own (0: no limit; superusers are exempt).", minimum=0),
    Option("smtp.host", str, None,
           "SMTP server for e-mail channels (unset: e-mail channels cannot be created)."),
    Option("smtp.port", int, 587, "SMTP server port.", minimum=1, maximum=65535),
    Option("smtp.username", str, None, "SMTP login (unset: no login)."),
    Option("smtp.password", str, None, "SMTP password.", secret=True),
    Option("smtp.from", str, None, "From address of notification mails (unset: smtp.username)."),
    Option("smtp.security", str, "starttls", "starttls, ssl (implicit TLS) or none.",
           choices=("starttls", "ssl", "none")),
    Option("smtp.timeout_seconds", int, 10, "Timeout of one SMTP conversation.",
           minimum=1, maximum=300),
    Option("notify.max_attempts", int, 6,
           "Tries of one notification delivery (the first + retries).", minimum=1,
           maximum=20),
    Option("notify.retry_backoff_seconds", int, 10,
           "A failed delivery is retried after this × 2^(tries−1) seconds.", minimum=0,
           maximum=86400),
    Option("retention.max_runs_per_job", int, 1000, "Results kept per job (newest).", minimum=1),
    Option("retention.max_age_days", int, 30, "Results older than this are pruned.", minimum=1),
    Option("audit.max_age_days", int, 365, "Audit log entries older than this are pruned.",
           minimum=1),
    Option("bootstrap.username", str, None,
           "Superuser created by `serve` on a database with no user (else: admin)."),
    Option("bootstrap.email", str, None, "E-mail of the bootstrap superuser."),
    Option("bootstrap.password", str, None,
           "Password of the bootstrap superuser (else a random one is printed once).",
           secret=True),
    Option("log.level", str, "info", "debug, info, warning or error.",
           choices=("debug", "info", "warning", "error")),
    Option("log.format", str, "text", "text (one line per event) or json (JSON lines).",
           choices=("text", "json")),
    Option("metrics.require_auth", bool, False,
           "Require a superuser's credentials for GET /metrics."),
)

_BY_KEY = {option.key: option for option in OPTIONS}


def env_name(key: str) -> str:
    """``server.max_body_bytes`` -> ``SCHEDULER_SERVER_MAX_BODY_BYTES``."""
    return "SCHEDULER_" + key.replace(".", "_").upper()


class Settings:
    """Read-only settings: ``settings.server.port`` or ``settings["server.port"]``."""

    __slots__ = ("_values", "_sections")
    _values: dict[str, Any]
    _sections: dict[str, _Section]

    def __init__(self, values: Mapping[str, Any]):
        object.__setattr__(self, "_values", dict(values))
        sections: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            section, name = key.split(".", 1)
            sections.setdefault(section, {})[name] = value
        object.__setattr__(self, "_sections", {
            name: _Section(name, fields) for name, fields in sections.items()})

    def __getattr__(self, section: str) -> _Section:
        try:
            return self._sections[section]
        except KeyError:
            raise AttributeError(section) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Settings are read-only")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def as_dict(self) -> dict[str, Any]:
        """Every key with its value (secrets included): ``Settings(as_dict())`` is a copy."""
        return dict(self._values)

    def replace(self, **overrides: Any) -> Settings:
        """A copy with some keys changed; keys use ``section__name`` spelling."""
        values = dict(self._values)
        for name, value in overrides.items():
            key = name.replace("__", ".", 1)
            values[key] = _coerce(_BY_KEY[key], value, "override")
        return Settings(values)

    def public_items(self) -> list[tuple[str, Any]]:
        """Every key with its value, secrets masked, for display."""
        return [(key, "***" if _BY_KEY[key].secret and value else value)
                for key, value in self._values.items()]


class _Section:
    __slots__ = ("_name", "_fields")

    def __init__(self, name: str, fields: dict[str, Any]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_fields", fields)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"{self._name}.{name}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Settings are read-only")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(option: Option, raw: Any, source: str) -> Any:
    """Convert and check one value; ``source`` says where it came from."""
    where = f"{option.key} (from {source})"
    if raw is None:
        return None
    value = raw
    if isinstance(raw, str) and option.kind is not str:
        text = raw.strip().lower()
        if option.kind is bool:
            if text not in _TRUE | _FALSE:
                raise ConfigError(f"{where}: expected true or false, got {raw!r}")
            value = text in _TRUE
        elif option.kind is int:
            try:
                value = int(text)
            except ValueError:
                raise ConfigError(f"{where}: expected a whole number, got {raw!r}") from None
    if option.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if option.kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if option.kind is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if option.minimum is not None and value < option.minimum:
        raise ConfigError(f"{where}: must be at least {option.minimum}, got {value}")
    if option.maximum is not None and value > option.maximum:
        raise ConfigError(f"{where}: must be at most {option.maximum}, got {value}")
    if option.choices and value not in option.choices:
        raise ConfigError(f"{where}: must be one of {', '.join(option.choices)}, got {value!r}")
    if option.kind is str and value == "" and option.default is None:
        return None
    if option.check is not None:
        try:
            option.check(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return value


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: {section} must be a [section]")
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in _BY_KEY:
                raise ConfigError(f"{key} (from {path}): unknown configuration key")
            values[key] = value
    return values


def load_settings(config_path: str | None = None, flags: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Merge default < file < environment < flags; ``flags`` keys are dotted keys."""
    environ = os.environ if environ is None else environ
    file_values = _read_toml(config_path) if config_path else {}
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = option.default
        if option.key in file_values:
            value = _coerce(option, file_values[option.key], config_path or "file")
        name = env_name(option.key)
        if name in environ:
            value = _coerce(option, environ[name], name)
        if flags and flags.get(option.key) is not None:
            value = _coerce(option, flags[option.key], "command line")
        values[option.key] = value
    return Settings(values)
