"""A typed client generated from the live /openapi.json works against the real server.

``openapi-python-client`` turns the document into a package (one function per
operationId, one class per named schema) once per test session; the test then logs
in, creates a schedule and a job, runs it against a local target and reads the
result, every step through the generated functions and models. Generation fails on
any part of the document the generator cannot type (``--fail-on-warning``).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from helpers.polling import wait_for

PACKAGE = "scheduler_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture(scope="session")
def generate_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """``generate(url)``: the generated package for the server at ``url``, imported
    (generated at the first call of the session; the document is the same each time)."""
    folder = tmp_path_factory.mktemp("generated_client")

    def generate(url: str) -> str:
        if not (folder / PACKAGE).exists():
            config = folder / "config.json"  # JSON is YAML: no ruff pass over the output
            config.write_text(json.dumps({"post_hooks": [], "package_name_override": PACKAGE}))
            subprocess.run(
                [str(GENERATOR), "generate", "--url", f"{url}/openapi.json", "--meta", "none",
                 "--config", str(config), "--fail-on-warning",
                 "--output-path", str(folder / PACKAGE)],
                check=True, capture_output=True, text=True, timeout=120)
        return PACKAGE

    sys.path.insert(0, str(folder))
    yield generate
    sys.path.remove(str(folder))
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def _load(package: str, *names: str) -> list[ModuleType]:
    return [importlib.import_module(f"{package}.{name}") for name in names]


def test_generated_client_logs_in_runs_a_job_and_reads_its_result(server, http_target,
                                                                  generate_client):
    package = generate_client(server.url)
    client, models, login, create_schedule, create_job, run_job, list_results = _load(
        package, "client", "models", "api.auth.login", "api.schedules.create_schedule",
        "api.jobs.create_job", "api.jobs.run_job", "api.results.list_results")

    anonymous = client.Client(base_url=server.url)
    tokens = login.sync(client=anonymous, body=models.Credentials(
        identifier="admin", password=server.settings.bootstrap.password))
    assert isinstance(tokens.data, models.TokenPair)
    wrong = login.sync(client=anonymous,
                       body=models.Credentials(identifier="admin", password="not-it"))
    assert isinstance(wrong, models.Error) and wrong.status == 401

    api = client.AuthenticatedClient(base_url=server.url, token=tokens.data.access_token)
    schedule = create_schedule.sync(client=api, body=models.ScheduleCreate(
        name="hourly", type_=models.ScheduleCreateType.HOURS, value=1)).data
    assert isinstance(schedule, models.Schedule) and schedule.type_.value == "hours"

    http_target.body = b'{"pong": 1}'
    # A success rule is one typed class per rule type (the discriminated oneOf).
    rule = models.JsonPathRule(type_="json_path", path="$.pong", op=models.JsonPathRuleOp("=="),
                               value=1)
    job = create_job.sync(client=api, body=models.JobCreate(
        name="ping", endpoint=http_target.url + "/ping", execute_id=schedule.id,
        method="get", is_active=False, assertions=[rule])).data
    assert isinstance(job, models.Job) and job.execute_id == schedule.id
    [stored] = job.assertions
    assert isinstance(stored, models.JsonPathRule) and stored.path == "$.pong"

    queued = run_job.sync(job.id, client=api)
    assert queued.status == 202 and isinstance(queued.data, models.RunQueued)

    def finished() -> list:
        rows = list_results.sync(job.id, client=api).data
        return [row for row in rows if row.duration_ms is not None]

    [result] = wait_for(finished, message="the run's result")
    assert isinstance(result, models.Result), result
    assert result.error is None, result.error
    assert (result.job_id, result.status_code, result.success) == (queued.data.job_id, 200, True)
    assert result.response == {"pong": 1}
    assert [(seen.method, seen.path) for seen in http_target.requests] == [("GET", "/ping")]
