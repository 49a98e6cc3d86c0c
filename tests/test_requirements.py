"""requirements.txt is the runtime set (`make run`); requirements-dev.txt adds the rest."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pins(name: str) -> dict[str, str]:
    """Package name (normalised) -> version, for every requirement line of the file."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r "):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.]+)", line)
        assert match, f"{name}: {line!r} is not pinned as NAME==VERSION"
        found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def test_the_dev_set_is_the_runtime_set_plus_the_tools():
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert (ROOT / "requirements-dev.txt").read_text().count("-r requirements.txt\n") == 1
    assert set(runtime) & set(dev) == set(), "pin each package in one file only"
    assert {"pytest", "ruff", "pyinstaller", "schemathesis", "playwright"} <= set(dev)


def test_the_runtime_set_is_what_serve_imports():
    """Each third-party import of scheduler_lib comes from a runtime package."""
    runtime = set(pins("requirements.txt"))
    modules = {"bottle": "bottle", "cheroot": "cheroot", "peewee": "peewee",
               "playhouse": "peewee", "jwt": "pyjwt", "bcrypt": "bcrypt", "click": "click",
               "httptools": "httptools", "uvloop": "uvloop",
               "urllib3": "urllib3", "websockets": "websockets", "cronsim": "cronsim",
               "jsonschema": "jsonschema", "prometheus_client": "prometheus-client",
               "psycopg2": "psycopg2-binary", "re2": "google-re2", "jsonpath": "python-jsonpath",
               "apprise": "apprise"}
    imported = set()
    for path in (ROOT / "scheduler_lib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__", "scheduler_lib"}
    assert third_party <= set(modules), "a new third-party import: map it to its package"
    assert {modules[name] for name in third_party} <= runtime
