"""The command line: a thin shell over the library (the only module importing click).

Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error. Errors are one
line on stderr; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from . import __version__
from .config import Settings, load_settings
from .errors import ApiError, ConfigError, SchedulerError

__all__ = ["main", "cli"]


class ConfigUsageError(click.UsageError):
    """A configuration problem: exit code 2, one line."""

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def _config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--config", "config_path", type=click.Path(dir_okay=False),
                        default=None, envvar="SCHEDULER_CONFIG",
                        help="TOML configuration file.")(func)


def _settings(ctx: click.Context, config_path: str | None, flags: dict[str, Any]) -> Settings:
    path = config_path or ctx.obj.get("config_path")
    try:
        return load_settings(path, flags)
    except ConfigError as exc:
        raise ConfigUsageError(str(exc)) from None


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors into one-line messages with the right exit code."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ConfigError as exc:
            raise ConfigUsageError(str(exc)) from None
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
        except Exception as exc:
            if ctx.obj.get("debug"):
                raise
            message = str(exc) if isinstance(exc, SchedulerError) else \
                f"{type(exc).__name__}: {exc}"
            raise click.ClickException(message) from None
    return wrapper


def _open(settings: Settings) -> Any:
    """Bind the database and bring the schema up to date; returns the context."""
    from .db import open_database
    from .services.setup import prepare
    open_database(settings.database.url)
    ctx, _ = prepare(settings, bootstrap=False)
    return ctx


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="scheduler")
@_config_option
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """scheduler: a self-hosted HTTP job scheduler."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["debug"] = debug


@cli.command()
@_config_option
@click.option("--host", default=None, help="Bind address (server.host).")
@click.option("--port", type=int, default=None, help="Port (server.port).")
@click.option("--threads", type=int, default=None, help="HTTP threads (server.threads).")
@click.option("--workers", type=int, default=None,
              help="Concurrent job runs (scheduler.workers).")
@click.pass_context
@_guarded
def serve(ctx: click.Context, config_path: str | None, host: str | None, port: int | None,
          threads: int | None, workers: int | None) -> None:
    """Run the API and the scheduler until SIGTERM or Ctrl-C."""
    from . import logs
    from .server import Instance
    settings = _settings(ctx, config_path, {
        "server.host": host, "server.port": port, "server.threads": threads,
        "scheduler.workers": workers})
    logs.configure(settings.log.level, settings.log.format)
    instance = Instance(settings)
    if instance.bootstrap is not None:
        created = instance.bootstrap
        if created.generated_password:
            click.echo(f"Created superuser '{created.username}' with password: "
                       f"{created.generated_password}\nThis is shown only once; change it "
                       "with PATCH /user/me or `scheduler set-password`.")
        else:
            click.echo(f"Created superuser '{created.username}' from the bootstrap settings.")
    instance.run_until_signalled()


@cli.command("engine-process", hidden=True)
def engine_process() -> None:
    """The engine's child process of `serve` (engine/process.py); not for people."""
    from .engine.process import run_child
    sys.exit(run_child(sys.stdin.buffer, sys.stdout.buffer))


@cli.command("init-db")
@_config_option
@click.pass_context
@_guarded
def init_db(ctx: click.Context, config_path: str | None) -> None:
    """Create or upgrade the database schema (idempotent)."""
    from . import migrations
    from .db import describe_url, open_database
    settings = _settings(ctx, config_path, {})
    open_database(settings.database.url)
    applied = migrations.migrate()
    where = describe_url(settings.database.url)
    if applied:
        click.echo(f"Applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
    else:
        click.echo(f"Database {where} is up to date.")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@cli.command("create-user")
@_config_option
@click.argument("username")
@click.option("--email", required=True, help="E-mail address.")
@click.option("--superuser", is_flag=True, help="Make the user a superuser.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from one line of standard input.")
@click.pass_context
@_guarded
def create_user(ctx: click.Context, config_path: str | None, username: str, email: str,
                superuser: bool, password_stdin: bool) -> None:
    """Create a user (prompts for the password twice unless --password-stdin)."""
    from .db import unit_of_work
    from .services import audit, users
    settings = _settings(ctx, config_path, {})
    app_ctx = _open(settings)
    password = _read_password(password_stdin)
    # bcrypt before the transaction: it would hold SQLite's write lock meanwhile.
    prepared = users.hash_new_password(app_ctx, password)
    with unit_of_work():
        user = users.create_user(app_ctx, username=username, email=email, password=password,
                                 is_superuser=superuser, prepared=prepared)
        audit.record(audit.cli_actor(), "user.create", resource="user", resource_id=user.id,
                     changed=("username", "email", "password", "is_superuser"))
    kind = "superuser" if user.is_superuser else "user"
    click.echo(f"Created {kind} {user.username} (id {user.id}).")


@cli.command("list-users")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@click.pass_context
@_guarded
def list_users(ctx: click.Context, config_path: str | None, as_json: bool) -> None:
    """List every user."""
    from .models import User
    _open(_settings(ctx, config_path, {}))
    users = [user.to_json() for user in User.select().order_by(User.id)]
    if as_json:
        click.echo(json.dumps(users, indent=2))
        return
    _table(["ID", "USERNAME", "EMAIL", "SUPERUSER", "CREATED"],
           [[u["id"], u["username"], u["email"], "yes" if u["is_superuser"] else "no",
             u["created_at"]] for u in users])


@cli.command("set-password")
@_config_option
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from one line of standard input.")
@click.pass_context
@_guarded
def set_password(ctx: click.Context, config_path: str | None, username: str,
                 password_stdin: bool) -> None:
    """Set a user's password (their sessions are revoked)."""
    from .db import unit_of_work
    from .services import audit, users
    app_ctx = _open(_settings(ctx, config_path, {}))
    user = users.get_user_by_username(username)
    prepared = users.hash_new_password(app_ctx, _read_password(password_stdin))
    with unit_of_work():
        users.set_password(app_ctx, user, prepared)
        audit.record(audit.cli_actor(), "user.update", resource="user", resource_id=user.id,
                     changed=("password",))
    click.echo(f"Password of {user.username} changed; their sessions were revoked.")


@cli.group()
def jobs() -> None:
    """Inspect jobs and run one now."""


@jobs.command("list")
@_config_option
@click.option("--user", "username", default=None, help="Only jobs this user is a member of.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@click.pass_context
@_guarded
def jobs_list(ctx: click.Context, config_path: str | None, username: str | None,
              as_json: bool) -> None:
    """List jobs with their schedule, next run, last outcome and whether one runs now
    (the JSON is the API's job shape)."""
    from .models import Job, JobMember
    from .services.jobs import jobs_json
    from .services.users import get_user_by_username
    _open(_settings(ctx, config_path, {}))
    query = Job.select().order_by(Job.id)
    if username is not None:
        member_of = JobMember.select(JobMember.job).where(
            JobMember.user == get_user_by_username(username).id)
        query = query.where(Job.id.in_(member_of))
    rows = jobs_json(query)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _table(["ID", "NAME", "TYPE", "METHOD", "ENDPOINT", "SCHEDULE", "ACTIVE", "NEXT RUN",
            "LAST", "RUNNING"],
           [[j["id"], j["name"], j["type"], j["method"].upper() if j["type"] == "rest" else "-",
             j["endpoint"], j["execute_id"], "yes" if j["is_active"] else "no",
             j["next_run_at"] or "-", j["last_status"] or "-",
             "yes" if j["running"] else "no"] for j in rows])


@jobs.command("run")
@_config_option
@click.argument("job_id", metavar="ID", type=click.IntRange(min=1))
@click.pass_context
@_guarded
def jobs_run(ctx: click.Context, config_path: str | None, job_id: int) -> None:
    """Run job ID once now (with its retries) and print each attempt's result.

    Exit code 0 when the run succeeded, 1 when its last attempt failed.
    """
    from .engine.runner import run_job_now
    from .errors import NotFound
    app_ctx = _open(_settings(ctx, config_path, {}))
    try:
        results = run_job_now(app_ctx, job_id)
    except NotFound:
        raise click.ClickException(f"No job with id {job_id}") from None
    for result in results:
        status = result.status_code if result.status_code is not None else "-"
        outcome = "success" if result.success else "failure"
        line = (f"attempt {result.attempt}: {outcome}, status {status}, "
                f"{result.duration_ms if result.duration_ms is not None else '-'} ms, "
                f"job_id {result.run_id}, result {result.id}")
        if result.error:
            line += f", error: {result.error}"
        click.echo(line)
    if not results or not results[-1].success:
        raise click.exceptions.Exit(1)


@cli.command("export")
@_config_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default="-",
              help="File to write (default: standard output).")
@click.option("--user", "username", default=None,
              help="Only this user's schedules, presets and jobs.")
@click.pass_context
@_guarded
def export(ctx: click.Context, config_path: str | None, output: str,
           username: str | None) -> None:
    """Write schedules, header presets, channels (without secrets) and jobs (with their
    notifications) as one JSON document."""
    from .services.transfer import export_data
    app_ctx = _open(_settings(ctx, config_path, {}))
    document = export_data(app_ctx, username)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output == "-":
        click.echo(text, nl=False)
    else:
        # Presets hold other systems' credentials: readable by the owner only, also
        # when the file existed with a wider mode.
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    if output != "-":
        click.echo(f"Exported {len(document['schedules'])} schedule(s), "
                   f"{len(document['headers'])} header preset(s), "
                   f"{len(document['channels'])} channel(s), {len(document['jobs'])} "
                   f"job(s) to {output}.", err=True)


def _body_check() -> Callable[[str, dict[str, Any]], Any]:
    """The API's own request-body validation for imported items (one source of truth)."""
    from .api.app import all_routes
    from .api.validation import validate_body, validator_for
    paths = {"schedule": "/fetch/execute", "header": "/fetch/header", "job": "/fetch",
             "channel": "/notify/channel", "subscription": "/fetch/{fetch_id}/notify"}
    bodies = {route.path: route.body for route in all_routes()
              if route.method == "POST" and route.body is not None}
    validators = {kind: validator_for(bodies[path]) for kind, path in paths.items()}
    return lambda kind, body: validate_body(validators[kind], body)


@cli.command("import")
@_config_option
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--owner", default=None,
              help="Give items whose owner does not exist here to this user.")
@click.pass_context
@_guarded
def import_(ctx: click.Context, config_path: str | None, source: Any,
            owner: str | None) -> None:
    """Create the schedules, header presets, channels and jobs of an export (idempotent).

    SOURCE is a file written by `scheduler export` (default: standard input). What
    exists already (same owner, name and content) is reused, not duplicated.
    """
    from .db import unit_of_work
    from .services import audit
    from .services.transfer import import_data
    from .services.users import get_user_by_username
    app_ctx = _open(_settings(ctx, config_path, {}))
    try:
        document = json.load(source)
    except ValueError as exc:
        raise click.ClickException(f"{source.name}: not valid JSON ({exc})") from None
    fallback = get_user_by_username(owner) if owner else None
    with unit_of_work():
        report = import_data(app_ctx, document, check=_body_check(), fallback_owner=fallback)
        # changed: the kinds of items the import created.
        audit.record(audit.cli_actor(), "import",
                     changed=(kind for kind, count in report.created.items() if count))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(report.summary())


@cli.command("audit")
@_config_option
@click.option("--user", "username", default=None, help="Only entries of this user's actions.")
@click.option("--job", "job_id", type=click.IntRange(min=1), default=None,
              help="Only entries about job ID.")
@click.option("--since", default=None, help="Only entries at or after this ISO 8601 time.")
@click.option("--action", default=None, help="Only entries of this action (e.g. job.update).")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True,
              help="Newest entries shown.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@click.pass_context
@_guarded
def audit_log(ctx: click.Context, config_path: str | None, username: str | None,
              job_id: int | None, since: str | None, action: str | None, limit: int,
              as_json: bool) -> None:
    """Show the audit log, newest first: who changed what, and when."""
    from .services import audit
    from .services.access import SYSTEM
    from .services.users import get_user_by_username
    _open(_settings(ctx, config_path, {}))
    query = {"user_id": get_user_by_username(username).id if username else None,
             "fetch_id": job_id,
             "since": since, "action": action, "limit": limit, "offset": 0}
    rows = [entry.to_json() for entry in audit.list_entries(SYSTEM, query)[0]]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _table(["AT", "USER", "VIA", "ACTION", "RESOURCE", "JOB", "CHANGED", "ADDRESS"],
           [[e["at"], e["username"] or "-", e["via"], e["action"],
             f"{e['resource'] or '-'} {e['resource_id'] or ''}".strip(), e["fetch_id"] or "-",
             ",".join(e["changed"]) or "-", e["remote_addr"] or "-"] for e in rows])


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    """Print rows as left-aligned columns."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def main() -> None:
    cli(prog_name="scheduler")
