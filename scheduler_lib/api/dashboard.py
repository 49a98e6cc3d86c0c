"""Serves the web dashboard: the static files of ``scheduler_lib/ui`` under ``/ui/``.

The dashboard is plain HTML, CSS and JavaScript modules that talk to the public API,
so serving it is only reading files. They are found relative to this package, which
works from a checkout and inside a PyInstaller build (whose spec must ship
``scheduler_lib/ui`` as data). Only files with a known type are served, a path that
would leave the folder is refused, and anything missing is the 404 envelope.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import bottle

from .routing import render

__all__ = ["UI_ROOT", "CONTENT_TYPES", "add_dashboard", "resolve"]

UI_ROOT = Path(__file__).resolve().parent.parent / "ui"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}

# The files carry no content hash in their names, so browsers keep them but ask again
# (a cheap 304 thanks to the ETag) and a new version is picked up at once.
_CACHE_CONTROL = "no-cache"
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
}


def resolve(relative: str, root: Path = UI_ROOT) -> Path | None:
    """The file ``relative`` names inside ``root``, or None when it is not servable.

    Refuses empty, hidden and parent segments, backslashes and NUL bytes, anything
    whose real path leaves ``root`` (symlinks included) and unknown file types.
    """
    if "\\" in relative or "\x00" in relative:
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    candidate = root.joinpath(*parts)
    try:
        real = candidate.resolve(strict=True)
        real_root = root.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if os.path.commonpath([real, real_root]) != str(real_root) or not real.is_file():
        return None
    if real.suffix.lower() not in CONTENT_TYPES:
        return None
    return real


def _serve(relative: str) -> bytes:
    path = resolve(relative)
    if path is None:
        raise bottle.HTTPError(404)
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    response = bottle.response
    for name, value in _SECURITY_HEADERS.items():
        response.set_header(name, value)
    response.set_header("Cache-Control", _CACHE_CONTROL)
    response.set_header("ETag", etag)
    if etag in bottle.request.environ.get("HTTP_IF_NONE_MATCH", ""):
        response.status = 304
        return b""
    response.content_type = CONTENT_TYPES[path.suffix.lower()]
    return body


def _redirect_to_index() -> bytes:
    bottle.response.set_header("Location", "/ui/")
    return render(301, "Moved to /ui/")


def add_dashboard(app: bottle.Bottle) -> None:
    """Route ``/ui`` (a redirect), ``/ui/`` (the page) and ``/ui/<file>`` on ``app``."""
    app.route("/ui", "GET", _redirect_to_index)
    app.route("/ui/", "GET", lambda: _serve("index.html"))
    app.route("/ui/<relative:path>", "GET", _serve)
