"""The docs cannot drift: generated pages match the code, links resolve, the README stays short."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools import docgen

ROOT = Path(__file__).resolve().parent.parent
README_LIMIT_BYTES = 12 * 1024
PAGES = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])


@pytest.mark.parametrize("path", sorted(docgen.GENERATED))
def test_generated_page_is_up_to_date(path: str):
    committed = (ROOT / path).read_text() if (ROOT / path).exists() else ""
    assert committed == docgen.GENERATED[path](), (
        f"{path} is stale: regenerate it with `{docgen.REGENERATE}` (or `make docs`)")


def test_generated_pages_name_every_option_and_command():
    configuration = docgen.render_configuration()
    for option in docgen.OPTIONS:
        assert f"| `{option.key}` |" in configuration
    cli_page = docgen.render_cli()
    for name in ["serve", "init-db", "create-user", "list-users", "set-password", "jobs list",
                 "jobs run", "export", "import"]:
        assert f"## `scheduler {name}`" in cli_page


def test_readme_is_a_landing_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= README_LIMIT_BYTES
    assert "make run" in readme and "make test" in readme
    assert "docs/screenshot-jobs.png" in readme
    # From the README alone: where a route, a config key and a job type go.
    for place in ["scheduler_lib/api/routes/", "ROUTE_MODULES", "scheduler_lib/config.py",
                  "OPTIONS", "scheduler_lib/engine/executors/"]:
        assert place in readme, place
    for page in (ROOT / "docs").glob("*.md"):
        assert f"](docs/{page.name}" in readme, f"the README does not link to docs/{page.name}"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M)
    assert "make test" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path):
    """Every relative link of the page names an existing file (and, with #, a heading)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked.read_text()), f"{page.name}: {target}: no heading"


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to -."""
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", markdown, re.M)}
