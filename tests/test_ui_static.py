"""The dashboard's static files under /ui/: serving, content types, caching, traversal."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path

import pytest

from scheduler_lib.api.dashboard import CONTENT_TYPES, UI_ROOT, resolve

# Static files do not touch the database: one backend is enough.
pytestmark = pytest.mark.backends("sqlite")

_IMPORT = re.compile(r"""(?:import|from)\s*(?:[\w{},*\s]+from\s*)?["'](\.{1,2}/[^"']+)["']""")


def raw_get(server, path: str, method: str = "GET",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A request whose path goes out byte for byte (no client-side normalising of ..)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.instance.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_ui_redirects_to_the_page_with_a_slash(server):
    r = server.api.get("/ui")
    assert r.status == 301
    assert r.headers["Location"] == "/ui/"


def test_index_is_html_with_caching_and_security_headers(server):
    r = server.api.get("/ui/")
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="js/app.js">' in r.raw
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    etag = r.headers["ETag"]
    again = server.api.get("/ui/", headers={"If-None-Match": etag})
    assert again.status == 304 and again.raw == b""
    assert server.api.get("/ui/index.html").raw == r.raw


def test_every_file_has_its_content_type(server):
    expected = {"app.css": "text/css; charset=utf-8",
                "js/app.js": "text/javascript; charset=utf-8",
                "favicon.svg": "image/svg+xml"}
    for name, content_type in expected.items():
        r = server.api.get(f"/ui/{name}")
        assert r.status == 200, name
        assert r.headers["Content-Type"] == content_type
        assert r.raw == (UI_ROOT / name).read_bytes()
    head = raw_get(server, "/ui/js/app.js", method="HEAD")
    assert head[0] == 200 and head[2] == b""


def test_every_module_the_page_imports_is_served(server):
    """Walks the import graph from js/app.js, so a missing or misnamed module fails here."""
    seen: set[str] = set()
    pending = ["js/app.js"]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        r = server.api.get(f"/ui/{name}")
        assert r.status == 200, f"{name}: {r}"
        assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
        base = Path(name).parent
        for target in _IMPORT.findall(r.raw.decode()):
            pending.append(_normalise(f"{base.as_posix()}/{target}"))
    assert {"js/api.js", "js/dom.js", "js/views/jobs.js", "js/views/job.js"} <= seen
    every_module = {str(p.relative_to(UI_ROOT)) for p in UI_ROOT.rglob("*.js")}
    assert every_module == seen, "modules nobody imports, or imports of missing modules"


def _normalise(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def test_missing_files_and_traversal_get_the_404_envelope(server):
    attempts = [
        "/ui/nope.js",
        "/ui/js/",
        "/ui/../api/dashboard.py",
        "/ui/%2e%2e/api/dashboard.py",
        "/ui/js/..%2f..%2fapi%2fdashboard.py",
        "/ui/..%5capi%5cdashboard.py",
        "/ui/%2fetc%2fpasswd",
        "/ui//etc/passwd",
        "/ui/.hidden.js",
        "/ui/js%00.js",
        "/ui/../../../../../../etc/passwd",
    ]
    for path in attempts:
        status, headers, body = raw_get(server, path)
        assert status == 404, path
        assert headers["content-type"] == "application/json", path
        envelope = json.loads(body)
        assert envelope["success"] is False and envelope["message"] == "Not found", path


def test_only_get_is_allowed(server):
    r = server.api.post("/ui/", {})
    assert r.status == 405
    assert r.json["message"] == "Method not allowed"


def test_resolve_refuses_what_leaves_the_folder(tmp_path):
    root = tmp_path / "ui"
    root.mkdir()
    (root / "page.html").write_text("<p>in</p>")
    (root / "notes.md").write_text("unknown type")
    (tmp_path / "secret.js").write_text("outside")
    (root / "link.js").symlink_to(tmp_path / "secret.js")
    assert resolve("page.html", root) == (root / "page.html").resolve()
    for bad in ["../secret.js", "link.js", "notes.md", "", "/page.html", "a\\b.html",
                "page.html\x00", "./page.html", ".", "missing.html"]:
        assert resolve(bad, root) is None, bad


def test_the_served_types_cover_the_shipped_files():
    shipped = {p.suffix for p in UI_ROOT.rglob("*") if p.is_file()}
    assert shipped <= set(CONTENT_TYPES)
