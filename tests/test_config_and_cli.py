"""Configuration precedence and validation; the core CLI commands; a real `serve` process."""

from __future__ import annotations

import os
import signal
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.polling import wait_for

from scheduler_lib import __version__
from scheduler_lib.cli import cli
from scheduler_lib.config import OPTIONS, env_name, load_settings
from scheduler_lib.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_KEYS = [
    "server.host", "server.port", "server.max_body_bytes", "server.threads", "database.url",
    "auth.jwt_secret", "auth.access_ttl_seconds", "auth.refresh_ttl_seconds",
    "auth.bcrypt_rounds", "auth.login_max_failures", "auth.login_window_seconds",
    "scheduler.workers", "scheduler.min_interval_seconds", "scheduler.misfire",
    "scheduler.lease_seconds", "fetch.max_response_bytes", "fetch.deny_private_networks",
    "retention.max_runs_per_job", "retention.max_age_days", "bootstrap.username",
    "bootstrap.email", "bootstrap.password", "log.level", "log.format",
    "server.max_header_bytes", "server.trusted_proxies", "limits.max_jobs_per_user",
    "server.public_url", "smtp.host", "smtp.port", "smtp.username", "smtp.password",
    "smtp.from", "smtp.security", "smtp.timeout_seconds", "notify.max_attempts",
]


def test_defaults_without_any_config():
    settings = load_settings(None, None, environ={})
    assert settings.server.host == "127.0.0.1" and settings.server.port == 8000
    assert settings.database.url == "sqlite:///scheduler.db"
    assert settings.auth.jwt_secret is None
    assert settings["scheduler.misfire"] == "run_once"


def test_every_product_key_exists_and_is_documented_in_the_example():
    keys = {option.key for option in OPTIONS}
    assert set(PRODUCT_KEYS) <= keys
    example = (ROOT / "config.example.toml").read_text()
    parsed = tomllib.loads(example)
    for option in OPTIONS:
        section, name = option.key.split(".", 1)
        assert env_name(option.key) in example, option.key
        if option.default is None:
            assert f"# {name} = " in example, option.key
        else:
            assert parsed[section][name] == option.default, option.key


def test_precedence_flag_over_env_over_file_over_default(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[server]\nport = 9001\nthreads = 7\nhost = "0.0.0.0"\n')
    env = {"SCHEDULER_SERVER_PORT": "9002", "SCHEDULER_SERVER_THREADS": "8"}
    settings = load_settings(str(config), {"server.port": 9003}, environ=env)
    assert settings.server.port == 9003       # flag
    assert settings.server.threads == 8       # env
    assert settings.server.host == "0.0.0.0"  # file
    assert settings.server.max_body_bytes == 1048576  # default


@pytest.mark.parametrize("toml, env, fragment", [
    ("[server]\nport = \"x\"\n", {}, "server.port"),
    ("[server]\nport = 70000\n", {}, "server.port"),
    ("[server]\nnope = 1\n", {}, "server.nope"),
    ("[scheduler]\nmisfire = \"sometimes\"\n", {}, "scheduler.misfire"),
    ("", {"SCHEDULER_AUTH_BCRYPT_ROUNDS": "3"}, "auth.bcrypt_rounds"),
    ("", {"SCHEDULER_FETCH_DENY_PRIVATE_NETWORKS": "maybe"}, "fetch.deny_private_networks"),
    ("not toml at all = = =", {}, "invalid TOML"),
    ("", {"SCHEDULER_SERVER_TRUSTED_PROXIES": "10.0.0.1, proxy.local"}, "server.trusted_proxies"),
])
def test_invalid_configuration_names_the_key(tmp_path, toml, env, fragment):
    config = tmp_path / "c.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=fragment):
        load_settings(str(config), None, environ=env)


def run_cli(args, tmp_path, input=None, env=None):
    runner = CliRunner()
    environ = {"SCHEDULER_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
               "SCHEDULER_AUTH_BCRYPT_ROUNDS": "4", **(env or {})}
    return runner.invoke(cli, args, input=input, env=environ, catch_exceptions=False)


def test_version(tmp_path):
    result = run_cli(["--version"], tmp_path)
    assert result.exit_code == 0 and __version__ in result.output


def test_init_db_is_idempotent(tmp_path):
    first = run_cli(["init-db"], tmp_path)
    assert first.exit_code == 0 and "Applied" in first.output
    second = run_cli(["init-db"], tmp_path)
    assert second.exit_code == 0 and "up to date" in second.output


def test_create_user_with_password_stdin_and_duplicate(tmp_path):
    ok = run_cli(["create-user", "carol", "--email", "carol@example.com", "--superuser",
                  "--password-stdin"], tmp_path, input="carol-password\n")
    assert ok.exit_code == 0, ok.output
    assert "Created superuser carol" in ok.output
    dup = run_cli(["create-user", "CAROL", "--email", "c2@example.com", "--password-stdin"],
                  tmp_path, input="carol-password\n")
    assert dup.exit_code == 1
    assert "already taken" in dup.output


def test_create_user_prompts_with_confirmation(tmp_path):
    result = run_cli(["create-user", "dave", "--email", "dave@example.com"], tmp_path,
                     input="dave-password\ndave-password\n")
    assert result.exit_code == 0, result.output
    mismatch = run_cli(["create-user", "erin", "--email", "erin@example.com"], tmp_path,
                       input="erin-password\nother-password\nerin-password\nerin-password\n")
    assert "do not match" in mismatch.output and mismatch.exit_code == 0


def test_create_user_rejects_a_short_password(tmp_path):
    result = run_cli(["create-user", "frank", "--email", "f@example.com", "--password-stdin"],
                     tmp_path, input="short\n")
    assert result.exit_code == 1 and "password" in result.output


def test_usage_and_config_errors_exit_2(tmp_path):
    assert run_cli(["create-user", "x"], tmp_path).exit_code == 2  # missing --email
    assert run_cli(["no-such-command"], tmp_path).exit_code == 2
    bad = run_cli(["init-db"], tmp_path, env={"SCHEDULER_SERVER_PORT": "eighty"})
    assert bad.exit_code == 2 and "server.port" in bad.output
    missing = run_cli(["--config", str(tmp_path / "missing.toml"), "init-db"], tmp_path)
    assert missing.exit_code == 2 and "not found" in missing.output


def test_serve_subprocess_bootstraps_admin_and_stops_cleanly_on_sigterm(tmp_path,
                                                                        serve_process):
    env = {**os.environ, "SCHEDULER_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
           "SCHEDULER_AUTH_BCRYPT_ROUNDS": "4", "SCHEDULER_LOG_LEVEL": "info"}
    node = serve_process(env, cwd=tmp_path, ready_path="/").wait_ready()
    wait_for(lambda: f"serving on http://127.0.0.1:{node.port} " in node.output(),
             message="the serve banner")
    password_line = next(x for x in node.output().splitlines() if "with password:" in x)
    password = password_line.rsplit(":", 1)[1].strip()
    assert node.api.get("/").message == "Scheduler API Running"
    r = node.api.post("/login", {"identifier": "admin", "password": password})
    assert r.message == "Login success!"
    assert node.stop(signal.SIGTERM) == 0
    assert "Traceback" not in node.output()
