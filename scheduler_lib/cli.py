"""The command line: a thin shell over the library (the only module importing click).

Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error. Errors are one
line on stderr; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
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
    from .services import users
    settings = _settings(ctx, config_path, {})
    app_ctx = _open(settings)
    password = _read_password(password_stdin)
    user = users.create_user(app_ctx, username=username, email=email, password=password,
                             is_superuser=superuser)
    kind = "superuser" if user.is_superuser else "user"
    click.echo(f"Created {kind} {user.username} (id {user.id}).")


def main() -> None:
    cli(prog_name="scheduler")
