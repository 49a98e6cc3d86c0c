"""The operator's CLI in process (Click's runner), for the CLI and audit tests.

``Cli(database_url)`` runs a command as an operator would (the database from
``SCHEDULER_DATABASE_URL``) and re-raises an unexpected exception; ``ok`` and
``one_line_error`` check its outcome; ``export_document`` is an export to import.
"""

from __future__ import annotations

import json

from click.testing import CliRunner

from scheduler_lib.cli import cli

__all__ = ["Cli", "ok", "one_line_error", "RULES", "document", "export_document", "add_user"]


class Cli:
    """Run ``scheduler`` commands on one database."""

    def __init__(self, database_url: str):
        self.runner = CliRunner()
        self.env = {"SCHEDULER_DATABASE_URL": database_url, "SCHEDULER_AUTH_BCRYPT_ROUNDS": "4"}

    def __call__(self, *args: str, input: str | None = None, **env: str):
        result = self.runner.invoke(cli, list(args), input=input, env={**self.env, **env})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output)
    return result.stdout


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    return lines[-1]


RULES = [{"type": "json_path", "path": "$.ok", "op": "==", "value": True},
         {"type": "max_duration_ms", "value": 5000}]


def document(**parts) -> str:
    return json.dumps({"format": "scheduler-export", "version": 1, **parts})


def export_document(endpoint: str) -> str:
    """Two schedules, a preset, and two jobs (one shared with bob), as an export holds them."""
    return document(
        schedules=[
            {"ref": 7, "owner": "alice", "name": "hourly", "is_repeat": True, "type": "hours",
             "value": 1, "cron": None, "timezone": "UTC"},
            {"ref": 8, "owner": "alice", "name": "nightly", "is_repeat": True, "type": "cron",
             "value": None, "cron": "0 3 * * *", "timezone": "Europe/Berlin"},
        ],
        headers=[{"ref": 3, "owner": "alice", "name": "auth",
                  "headers": {"Authorization": "Bearer target-secret"}}],
        jobs=[
            {"name": "probe", "type": "rest", "endpoint": endpoint, "method": "post",
             "payload": '{"hello":1}', "description": "", "is_active": True,
             "timeout_seconds": 5, "max_attempts": 1, "retry_backoff_seconds": 1,
             "expected_status": ["2xx"], "assertions": RULES, "execute_ref": 7,
             "header_ref": 3, "topic": None,
             "members": [{"username": "alice", "role": "owner"},
                         {"username": "bob", "role": "viewer"}]},
            {"name": "nightly-report", "endpoint": "https://example.invalid/report",
             "execute_ref": 8, "header_ref": None, "is_active": False,
             "members": [{"username": "alice", "role": "owner"}]},
        ])


def add_user(run: Cli, name: str, *, superuser: bool = False) -> None:
    args = ["create-user", name, "--email", f"{name}@example.com", "--password-stdin"]
    ok(run(*args, *(["--superuser"] if superuser else []), input=f"{name}-password\n"))
