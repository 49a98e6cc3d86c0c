"""The dashboard end to end in real headless Chromium (Debian's), driven by Playwright.

A real server with the engine and a local HTTP target: log in, create a schedule and
a job in the browser, see a result appear, pause the job, run it now, log out. The
screenshot of the jobs list in the README comes from here: run with
``UPDATE_SCREENSHOT=1`` to rewrite ``docs/screenshot-jobs.png``.

Skips, naming what is missing, where Playwright or Chromium is absent; in CI
(``CI`` set) a missing browser fails instead, since .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers.polling import wait_for
from helpers.targets import HttpTarget, verify

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot-jobs.png"
TIMEOUT_MS = 20000


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests: see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed: pip install -r requirements-dev.txt")
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Target:
    """A local HTTP endpoint for jobs: ``/ok`` answers JSON, ``/flaky`` fails every other call."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with target.lock:
                    count = target.hits[self.path] = target.hits.get(self.path, 0) + 1
                status = 500 if self.path == "/flaky" and count % 2 == 0 else 200
                body = json.dumps({"path": self.path, "call": count, "ok": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    t.thread.start()
    try:
        yield t
    finally:
        t.httpd.shutdown()
        t.httpd.server_close()
        t.thread.join(5)


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    p = context.new_page()
    p.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    p.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield p
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def session_tokens(page) -> dict[str, Any] | None:
    return page.evaluate("JSON.parse(sessionStorage.getItem('scheduler.session'))")


def api_data(server, path: str) -> Any:
    r = server.api.get(path, token=server.admin.token)
    assert r.status == 200, r
    return r.data


def add_background_jobs(server, target: Target) -> None:
    """Jobs made through the API so the list has variety: flaky, paused, cron."""
    token = server.admin.token
    fast = server.api.post("/fetch/execute", {"name": "every second", "type": "seconds",
                                              "value": 1}, token=token).data
    nightly = server.api.post("/fetch/execute", {"name": "nightly", "type": "cron",
                                                 "cron": "30 2 * * *",
                                                 "timezone": "Europe/Paris"}, token=token).data
    for body in ({"name": "flaky partner API", "endpoint": f"{target.url}/flaky",
                  "execute_id": fast["id"]},
                 {"name": "nightly report", "endpoint": f"{target.url}/report", "method": "post",
                  "payload": {"report": "daily"}, "execute_id": nightly["id"]},
                 {"name": "legacy webhook", "endpoint": f"{target.url}/legacy",
                  "execute_id": nightly["id"], "is_active": False}):
        r = server.api.post("/fetch", body, token=token)
        assert r.status == 201, r


def test_dashboard_end_to_end(server, target, page, tmp_path):
    from playwright.sync_api import expect

    add_background_jobs(server, target)

    # Login: a wrong password is explained in words, then Enter in the form logs in.
    page.goto(f"{server.url}/ui")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username or e-mail", exact=True).fill("admin")
    page.get_by_label("Password", exact=True).fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid identifier or password")
    page.get_by_label("Password", exact=True).fill(server.admin.password)
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    login_tokens = session_tokens(page)
    assert login_tokens["user"]["username"] == "admin"

    # A schedule: every 2 seconds, with the preview of its next five runs; a bad
    # cron expression is reported in words by the preview.
    page.get_by_role("link", name="Schedules").click()
    page.get_by_role("link", name="New schedule").click()
    page.get_by_label("Kind", exact=True).select_option("cron")
    page.get_by_label("Cron expression", exact=True).fill("61 * * * *")
    expect(page.locator(".preview-box .error-text")).to_contain_text("cron")
    page.get_by_label("Name", exact=True).fill("every 2 seconds")
    page.get_by_label("Kind", exact=True).select_option("seconds")
    page.get_by_label("Every how many", exact=True).fill("2")
    expect(page.locator("ol.preview li")).to_have_count(5)
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("status")).to_contain_text("Api execute created!")
    expect(page.get_by_role("link", name="every 2 seconds")).to_be_visible()

    # A job against the local target, on that schedule.
    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_role("link", name="New job").click()
    page.get_by_label("Name", exact=True).fill("ping target")
    page.get_by_label("Endpoint URL", exact=True).fill(f"{target.url}/ok")
    page.get_by_label("Schedule", exact=True).select_option(
        label="every 2 seconds — every 2 seconds")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="ping target")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Fetch Api Created!")
    job_id = int(page.url.rsplit("/", 1)[1])

    # Its first result appears in the page by itself (the page refreshes results).
    results = page.locator("table.results tbody tr[data-result-id]")
    expect(results.first).to_be_visible(timeout=TIMEOUT_MS)
    expect(results.first.locator("td[data-label='Status code']")).to_have_text("200")
    expect(results.first.locator("td[data-label='Outcome']")).to_have_text("✓ success")
    results.first.get_by_text("Response").click()
    expect(results.first.locator("pre[aria-label='Response body']")).to_contain_text('"ok": true')

    # Pause: the job stops being scheduled.
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_have_text("Job paused.")
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    job = api_data(server, f"/fetch/{job_id}")
    assert job["is_active"] is False and job["next_run_at"] is None

    # Run now works on the paused job: the target is called, the result shows up.
    before_calls = target.count("/ok")
    page.get_by_role("button", name="Run now").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("Run queued")
    run_id = re.search(r"run ([0-9a-f-]{36})", status.inner_text()).group(1)
    manual = wait_for(lambda: [row for row in api_data(server, f"/fetch/{job_id}/data")
                               if row["job_id"] == run_id], message="the manual run's result")
    expect(page.locator(f"tr[data-result-id='{manual[0]['id']}']")).to_be_visible()
    assert target.count("/ok") > before_calls

    # The jobs list: words for schedules, colours and words for statuses, sparklines.
    page.get_by_role("link", name="All jobs").click()
    table = page.locator("table.jobs")
    row = table.locator("tr", has=page.get_by_role("link", name="ping target"))
    expect(row.locator("td[data-label='Schedule']")).to_have_text("every 2 seconds")
    expect(row.locator("td[data-label='Next run']")).to_have_text("paused")
    flaky = table.locator("tr", has=page.get_by_role("link", name="flaky partner API"))
    wait_for(lambda: target.count("/flaky") >= 4, timeout=20, message="flaky runs")
    page.reload()
    expect(flaky.locator("svg.spark rect.bad").first).to_be_attached()
    expect(flaky.locator("svg.spark rect.ok").first).to_be_attached()
    expect(table.locator("tr", has=page.get_by_role("link", name="nightly report"))
           .locator("td[data-label='Schedule']")).to_have_text("every day at 02:30 (Europe/Paris)")

    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "jobs.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.get_by_role("status").evaluate("flash => flash.replaceChildren()")
    bottom = page.locator("main").bounding_box()
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 1280,
                                          "height": min(760, bottom["y"] + bottom["height"])})
    assert shot.stat().st_size > 10_000

    # The active switch in the list pauses a job too.
    flaky.get_by_role("switch").click()
    wait_for(lambda: not [j for j in api_data(server, "/fetch")
                          if j["name"] == "flaky partner API"][0]["is_active"],
             message="the flaky job to be paused")
    expect(flaky.locator("td[data-label='Next run']")).to_have_text("paused")

    # On a phone the table becomes cards and nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(table.locator("thead")).to_have_css("position", "absolute")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # Log out: back to the login page, tokens gone here and revoked on the server.
    page.set_viewport_size({"width": 1280, "height": 760})
    refresh_token = session_tokens(page)["refresh_token"]
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert session_tokens(page) is None
    r = server.api.post("/refresh/token", {"refresh_token": refresh_token})
    assert r.status == 401, r
    page.goto(f"{server.url}/ui/#/jobs")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_session_survives_access_token_expiry(start_server, page):
    """Access tokens that live one second: the page refreshes them and keeps working."""
    from playwright.sync_api import expect

    server = start_server(auth__access_ttl_seconds=1)
    page.goto(f"{server.url}/ui/")
    page.get_by_label("Username or e-mail", exact=True).fill("admin")
    page.get_by_label("Password", exact=True).fill(server.admin.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    first = session_tokens(page)
    expiry = _expiry(first["access_token"])
    wait_for(lambda: time.time() > expiry, timeout=5, message="the access token to expire")
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("ci")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("API key", exact=True)
    expect(key).to_be_visible()
    assert server.api.get("/user/me", api_key=key.input_value()).status == 200
    expect(page.get_by_role("status")).to_contain_text("Api key created!")
    assert session_tokens(page)["refresh_token"] != first["refresh_token"]


def test_api_key_scope_is_chosen_in_the_form_and_shown_in_the_list(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server.url}/ui/")
    page.get_by_label("Username or e-mail", exact=True).fill("admin")
    page.get_by_label("Password", exact=True).fill(server.admin.password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="API keys").click()
    scope = page.get_by_label("Scope", exact=True)
    expect(scope).to_have_value("write")
    page.get_by_label("Name", exact=True).fill("reader")
    scope.select_option("read")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("API key", exact=True).input_value()
    row = page.get_by_role("row", name="reader")
    expect(row.locator("td[data-label=Scope]")).to_have_text("read")
    # What the page asked for is what the server enforces.
    assert server.api.get("/user/me", api_key=key).status == 200
    r = server.api.post("/fetch/execute", {"name": "s", "type": "seconds", "value": 60},
                        api_key=key)
    assert (r.status, r.message) == (403, "API key scope does not allow this")


def _expiry(token: str) -> int:
    import base64

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]


SCHEDULE_WORDS = [
    ({"type": "seconds", "value": 1}, "every second"),
    ({"type": "minutes", "value": 15}, "every 15 minutes"),
    ({"type": "hours", "value": 2, "is_repeat": False}, "once, 2 hours after it is set"),
    ({"type": "cron", "cron": "*/5 * * * *", "timezone": "UTC"}, "every 5 minutes (UTC)"),
    ({"type": "cron", "cron": "30 9 * * 1-5", "timezone": "Europe/Paris"},
     "Monday to Friday at 09:30 (Europe/Paris)"),
    ({"type": "cron", "cron": "@weekly", "timezone": "UTC"}, "every Sunday at 00:00 (UTC)"),
    ({"type": "cron", "cron": "0 0 1 * *", "timezone": "UTC"},
     "on day 1 of every month at 00:00 (UTC)"),
    ({"type": "cron", "cron": "*/15 9-17 * * 1-5", "timezone": "UTC"},
     "every 15 minutes from 09:00 to 17:59, Monday to Friday (UTC)"),
    ({"type": "cron", "cron": "0 12 1,15 * *", "timezone": "UTC"}, "cron “0 12 1,15 * *” (UTC)"),
]


def test_schedules_in_words(server, page):
    """The words the jobs list shows for a schedule, from the page's own module."""
    page.goto(f"{server.url}/ui/")
    words = page.evaluate(
        "async (schedules) => { const dom = await import('./js/dom.js');"
        " return schedules.map((s) => dom.scheduleWords(s)); }",
        [schedule for schedule, _ in SCHEDULE_WORDS])
    assert words == [expected for _, expected in SCHEDULE_WORDS]


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll(
    'main input, main select, main textarea, main button')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 120))"""


def test_every_control_is_labelled_and_the_keyboard_gets_everywhere(server, page):
    from playwright.sync_api import expect

    token = server.admin.token
    schedule = server.api.post("/fetch/execute", {"name": "hourly", "type": "hours", "value": 1},
                               token=token).data
    job = server.api.post("/fetch", {"name": "labelled", "endpoint": "http://127.0.0.1:9/x",
                                     "execute_id": schedule["id"]}, token=token).data
    page.goto(f"{server.url}/ui/")
    expect(page.get_by_role("heading", name="Log in")).to_be_focused()
    first_stop = "document.querySelector('a[href], button, input, select, textarea').textContent"
    assert page.evaluate(first_stop) == "Skip to content"
    # Log in with the keyboard alone: from the focused heading, Tab to the fields.
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "identifier":
            break
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(server.admin.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    pages = {"/jobs": "Jobs", f"/jobs/{job['id']}": "labelled", "/jobs/new": "New job",
             f"/jobs/{job['id']}/edit": "Edit labelled", "/schedules": "Schedules",
             "/schedules/new": "New schedule", "/headers/new": "New header preset",
             "/keys": "API keys", "/channels": "Notification channels",
             "/users": "Users", "/users/new": "New user",
             "/account": "Your account", "/activity": "Activity"}
    for route, heading in pages.items():
        page.goto(f"{server.url}/ui/#{route}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        assert page.evaluate(UNLABELLED_CONTROLS) == [], route


def _log_in(page, server, username: str, password: str) -> None:
    from playwright.sync_api import expect

    if "#/login" not in page.url:
        page.goto(f"{server.url}/ui/#/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username or e-mail", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()


def _log_out(page) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_teammate_added_by_name_pauses_and_the_owner_sees_who(server, page):
    """Issue 18's "done when": a teammate pauses a shared job through the dashboard;
    its owner sees who did it and when on the job page and on the Activity page."""
    from playwright.sync_api import expect

    alice = server.make_user("alice")
    bob = server.make_user("bob")
    schedule = server.api.post("/fetch/execute", {"name": "hourly", "type": "hours", "value": 1},
                               token=alice.token).data
    job = server.api.post("/fetch", {"name": "shared probe", "endpoint": "http://127.0.0.1:9/x",
                                     "execute_id": schedule["id"]}, token=alice.token).data

    # The owner adds bob by name: the members panel asks for a name, not an id.
    _log_in(page, server, "alice", alice.password)
    page.goto(f"{server.url}/ui/#/jobs/{job['id']}")
    members = page.locator("table.members")
    expect(members).to_contain_text("alice (you)")
    page.get_by_label("Username or e-mail", exact=True).fill("Bob@Example.com")
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_have_text("Member added.")
    expect(members.locator("tr", has_text="bob")).to_be_visible()
    expect(page.get_by_label("Role of bob")).to_have_value("editor")
    _log_out(page)

    # Bob pauses the shared job.
    _log_in(page, server, "bob", bob.password)
    page.goto(f"{server.url}/ui/#/jobs/{job['id']}")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_have_text("Job paused.")
    _log_out(page)

    # The owner's job page says who did it and when; the API says the same.
    _log_in(page, server, "alice", alice.password)
    page.goto(f"{server.url}/ui/#/jobs/{job['id']}")
    activity = page.locator("section[aria-labelledby=activity-title] ul.activity li")
    newest = activity.first
    expect(newest).to_contain_text(re.compile(r"^bob paused this job · (now|\d+ s ago)"))
    expect(activity.last).to_contain_text("alice created this job")
    entry = server.api.get(f"/audit?fetch_id={job['id']}", token=alice.token).data[0]
    assert (entry["username"], entry["action"], entry["via"]) == ("bob", "job.pause", "token")
    assert newest.locator("time").get_attribute("datetime") == entry["at"]

    # The Activity page filters by action, user and job.
    page.get_by_role("link", name="Activity", exact=True).click()
    expect(page.get_by_role("heading", name="Activity", exact=True)).to_be_visible()
    items = page.locator("main ul.activity li")
    expect(items.first).to_contain_text("alice logged in")
    expect(items.filter(has_text="bob paused job “shared probe” · ")).to_have_count(1)
    page.get_by_label("Action", exact=True).select_option("job.pause")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("bob paused job “shared probe”")
    expect(page.get_by_label("Action", exact=True)).to_have_value("job.pause")
    # Each choice re-renders the page: wait for the new list before the next one.
    page.get_by_label("Action", exact=True).select_option("")
    expect(items.nth(1)).to_be_visible()
    page.get_by_label("User", exact=True).select_option(label="alice (you)")
    expect(items.filter(has_text="bob")).to_have_count(0)
    expect(items.first).to_contain_text("alice")
    page.get_by_label("User", exact=True).select_option("")
    expect(items.filter(has_text="bob").first).to_be_visible()
    page.get_by_label("Job", exact=True).select_option(label="shared probe")
    expect(items.filter(has_not_text="shared probe")).to_have_count(0)
    expect(items.first).to_contain_text("bob paused")
    # Alice sees nothing of what only concerns others (bob's login).
    page.get_by_label("Job", exact=True).select_option("")
    expect(items.filter(has_text="alice logged in").first).to_be_visible()
    expect(items.filter(has_text="bob logged in")).to_have_count(0)
    _log_out(page)

    # A superuser sees everyone's entries.
    _log_in(page, server, "admin", server.admin.password)
    page.get_by_role("link", name="Activity", exact=True).click()
    page.get_by_label("User", exact=True).select_option(label="bob")
    expect(page.locator("main ul.activity li", has_text="bob logged in").first).to_be_visible()


def test_activity_in_words(server, page):
    """How the Activity page and the job page word entries, from the page's own module."""
    entries = [
        ({"via": "system", "username": None, "action": "job.pause", "changed": ["is_active"]},
         "this job", "The scheduler paused this job"),
        ({"via": "cli", "username": None, "action": "user.update", "changed": ["password"]},
         None, "An operator (command line) changed a user (password)"),
        ({"via": "apikey", "username": "robot", "action": "job.update",
          "changed": ["endpoint", "name"]}, "job “probe”",
         "robot changed job “probe” (endpoint, name)"),
        ({"via": "token", "username": None, "user_id": None, "action": "login.failed",
          "changed": []}, None, "Someone unknown failed to log in"),
        ({"via": "token", "username": "eve", "action": "brand.new", "changed": []}, None,
         "eve did brand.new"),
    ]
    page.goto(f"{server.url}/ui/")
    words = page.evaluate(
        "async (entries) => { const m = await import('./js/views/activity.js');"
        " return entries.map(([entry, job]) => m.describe(entry, job)); }",
        [[entry, job] for entry, job, _ in entries])
    assert words == [expected for _, _, expected in entries]


def test_a_run_in_flight_shows_as_running_never_as_a_failure(server, page):
    from playwright.sync_api import expect

    token = server.admin.token
    hourly = server.api.post("/fetch/execute", {"name": "hourly", "type": "hours", "value": 1},
                             token=token).data
    with HttpTarget() as slow:
        slow.delay = 4
        job = server.api.post("/fetch", {"name": "slow", "endpoint": slow.url,
                                         "execute_id": hourly["id"]}, token=token).data
        page.goto(f"{server.url}/ui")
        page.get_by_label("Username or e-mail", exact=True).fill("admin")
        page.get_by_label("Password", exact=True).fill(server.admin.password)
        page.get_by_label("Password", exact=True).press("Enter")
        expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
        page.goto(f"{server.url}/ui/#/jobs/{job['id']}")
        expect(page.locator("#next-run-id")).to_have_text(job["job_id"])
        page.get_by_role("button", name="Run now").click()
        run_id = wait_for(lambda: slow.count() and slow.requests[0].headers[
            "X-Scheduler-Job-Id"], message="the run in flight")
        line = page.locator("#running-now")
        expect(line).to_contain_text("Running now, since", timeout=6000)
        expect(line).to_contain_text(f"Attempt 1 of run {run_id} running since")
        expect(page.locator(".title-row .pill.running")).to_be_visible()
        results = page.locator("table.results tbody")
        expect(results.locator(".pill.bad")).to_have_count(0)
        expect(results).to_contain_text("No results yet.")
        # Finished: the line goes, the result is a success, never shown as a failure.
        expect(line).to_be_hidden(timeout=10000)
        expect(results.locator(".pill.ok")).to_have_count(1)
        expect(results.locator(".pill.bad")).to_have_count(0)
    # The next run id is still the one the job shows (a run-now does not consume it).
    expect(page.locator("#next-run-id")).to_have_text(
        api_data(server, f"/fetch/{job['id']}")["job_id"])


def test_success_rules_in_the_form_the_job_page_and_a_failed_result(server, target, page):
    """Rules are edited in the job form (add, remove, each type's fields), listed in
    words on the job page, and a failed result names the rule that failed."""
    from playwright.sync_api import expect

    r = server.api.post("/fetch/execute", {"name": "hourly", "type": "hours", "value": 1},
                        token=server.admin.token)
    assert r.status == 201, r
    page.goto(f"{server.url}/ui/")
    page.get_by_label("Username or e-mail", exact=True).fill("admin")
    page.get_by_label("Password", exact=True).fill(server.admin.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    page.goto(f"{server.url}/ui/#/jobs/new")
    page.get_by_label("Name", exact=True).fill("checked")
    page.get_by_label("Endpoint URL", exact=True).fill(f"{target.url}/ok")
    page.get_by_label("Schedule", exact=True).select_option(label="hourly — every hour")
    expect(page.get_by_text("No rules: the expected status alone decides.")).to_be_visible()
    rows = page.locator(".rule-row")
    add = page.get_by_role("button", name="Add rule")
    add.click()
    first = rows.nth(0)
    first.get_by_label("Rule", exact=True).select_option("json_path")
    expect(first.get_by_label("Text", exact=True)).to_be_hidden()
    first.get_by_label("JSONPath", exact=True).fill("$.ok")
    first.locator("select[name=rule-op]").select_option("==")
    first.get_by_label("Value", exact=True).fill("true")
    add.click()
    rows.nth(1).get_by_label("Text", exact=True).fill("never there")   # body contains, removed
    add.click()
    third = rows.nth(2)
    third.get_by_label("Rule", exact=True).select_option("max_duration_ms")
    third.get_by_label("Milliseconds", exact=True).fill("500")
    add.click()
    fourth = rows.nth(3)
    fourth.get_by_label("Rule", exact=True).select_option("header")
    fourth.get_by_label("Header name", exact=True).fill("Content-Type")
    fourth.locator("select[name=rule-header-op]").select_option("exists")
    expect(fourth.get_by_label("Text", exact=True)).to_be_hidden()   # exists takes no value
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    rows.nth(1).get_by_role("button", name="Remove").click()
    expect(rows).to_have_count(3)
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="checked")).to_be_visible()
    job_id = int(page.url.rsplit("/", 1)[1])
    assert api_data(server, f"/fetch/{job_id}")["assertions"] == [
        {"type": "json_path", "path": "$.ok", "op": "==", "value": True},
        {"type": "max_duration_ms", "value": 500},
        {"type": "header", "name": "Content-Type", "op": "exists"}]
    listed = page.locator("ul.rules li")
    expect(listed).to_have_text(["$.ok == true", "takes under 500 ms",
                                 "header Content-Type exists"])

    # Edit: the rows come back filled in; the value becomes the string "true".
    page.get_by_role("link", name="Edit").click()
    expect(rows).to_have_count(3)
    value = rows.nth(0).get_by_label("Value", exact=True)
    expect(value).to_have_value("true")
    value.fill('"true"')
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="checked")).to_be_visible()
    expect(listed.first).to_have_text('$.ok == "true"')
    assert api_data(server, f"/fetch/{job_id}")["assertions"][0]["value"] == "true"

    # A run fails on that rule, and the result says which rule and what it got.
    page.get_by_role("button", name="Run now").click()
    failed = page.locator("table.results tbody tr[data-result-id]").first
    expect(failed.locator("td[data-label='Outcome']")).to_have_text("✗ failure")
    error = failed.locator("td[data-label='Error']")
    expect(error).to_contain_text('Rule failed: $.ok == "true"')
    expect(error).to_contain_text("(got true)")
    expect(error.locator("code")).to_have_text('$.ok == "true"')


RULE_WORDS = [
    {"type": "body_contains", "value": "ok"},
    {"type": "body_not_contains", "value": "error"},
    {"type": "body_regex", "value": "^up"},
    {"type": "json_path", "path": "$.status", "op": "==", "value": "ok"},
    {"type": "json_path", "path": "$.count", "op": ">=", "value": 5},
    {"type": "json_path", "path": "$.tags", "op": "contains", "value": ["a", 1]},
    {"type": "json_path", "path": "$.gone", "op": "not_exists"},
    {"type": "header", "name": "Content-Type", "op": "contains", "value": "json"},
    {"type": "header", "name": "X-Id", "op": "exists"},
    {"type": "max_duration_ms", "value": 500},
]


def test_rules_in_words_match_the_servers(server, page):
    """The job page's words for a rule are the words a failed result's error uses."""
    from scheduler_lib.assertions import parse_rules

    page.goto(f"{server.url}/ui/")
    words = page.evaluate(
        "async (rules) => { const m = await import('./js/rules.js');"
        " return rules.map((rule) => m.ruleWords(rule)); }", RULE_WORDS)
    assert words == [rule.describe() for rule in parse_rules(RULE_WORDS)]
    assert words[3] == '$.status == "ok"' and words[-1] == "takes under 500 ms"


def test_notifications_from_the_dashboard(start_server, smtp_server, page):
    """A user makes a webhook and an e-mail channel, subscribes a job that starts
    failing, gets one signed failure webhook and one mail, then the recovery when it
    heals, and sees every delivery listed with its outcome."""
    from playwright.sync_api import expect

    inbox, smtp_port = smtp_server
    server = start_server(smtp__host="127.0.0.1", smtp__port=smtp_port, smtp__security="none")
    token = server.admin.token
    receiver = HttpTarget().start()
    job_target = HttpTarget().start()
    try:
        job_target.status = 503
        schedule = server.api.post("/fetch/execute", {"name": "1s", "type": "seconds",
                                                      "value": 1}, token=token).data
        job = server.api.post("/fetch", {"name": "checkout", "endpoint": job_target.url,
                                         "execute_id": schedule["id"], "is_active": False},
                              token=token).data
        page.goto(f"{server.url}/ui/")
        page.get_by_label("Username or e-mail", exact=True).fill("admin")
        page.get_by_label("Password", exact=True).fill(server.admin.password)
        page.get_by_label("Password", exact=True).press("Enter")
        expect(page.get_by_role("heading", name="Jobs")).to_be_visible()

        page.get_by_role("link", name="Channels", exact=True).click()
        expect(page.get_by_role("heading", name="Notification channels")).to_be_visible()
        page.get_by_label("Name", exact=True).fill("ops hook")
        page.get_by_label("Type", exact=True).select_option("webhook")
        page.get_by_label("Target", exact=True).fill(receiver.url + "/hook")
        page.get_by_role("button", name="Create channel").click()
        secret = page.locator("[data-secret]")
        expect(secret).to_contain_text("whsec_")
        first_secret = secret.text_content()
        hook_row = page.locator("tr[data-channel-id]", has_text="ops hook")
        hook_row.get_by_role("button", name="Test channel ops hook").click()
        expect(hook_row).to_contain_text("✓ Test notification sent")
        assert verify(first_secret, receiver.requests[0].body,
                      receiver.requests[0].headers["X-Scheduler-Signature"])
        page.on("dialog", lambda dialog: dialog.accept())
        hook_row.get_by_role("button", name="Rotate the secret of ops hook").click()
        expect(secret).not_to_have_text(first_secret)
        webhook_secret = secret.text_content()

        page.get_by_label("Name", exact=True).fill("ops mail")
        page.get_by_label("Type", exact=True).select_option("email")
        page.get_by_label("Target", exact=True).fill("ops@example.com")
        page.get_by_role("button", name="Create channel").click()
        expect(page.locator("tr[data-channel-id]", has_text="ops mail")).to_be_visible()
        expect(secret).to_have_count(0)     # shown once: gone with the next action
        receiver.status = 500
        hook_row.get_by_role("button", name="Test channel ops hook").click()
        expect(hook_row).to_contain_text("✗ Test notification failed: unexpected status 500")
        receiver.status = 200

        # Subscribe both channels to the job, then let it fail.
        page.goto(f"{server.url}/ui/#/jobs/{job['id']}")
        panel = page.locator("section", has=page.get_by_role("heading", name="Notifications"))
        for name in ("ops hook (webhook)", "ops mail (email)"):
            panel.get_by_label("Channel", exact=True).select_option(label=name)
            panel.get_by_role("button", name="Subscribe").click()
            expect(page.get_by_role("status")).to_contain_text("Notification added.")
        panel = page.locator("section", has=page.get_by_role("heading", name="Notifications"))
        expect(panel.locator("li.subscription")).to_have_count(2)
        page.get_by_role("button", name="Resume").click()
        expect(page.get_by_role("status")).to_have_text("Job resumed.")
        wait_for(lambda: inbox.mails and len(receiver.requests) >= 3, 20,
                 message="the failure webhook and mail")
        job_target.status = 200
        wait_for(lambda: len(receiver.requests) >= 4 and len(inbox.mails) >= 2, 20,
                 message="the recovery webhook and mail")
        page.reload()
        deliveries = page.locator("table.deliveries tbody tr")
        expect(deliveries).to_have_count(4)
        expect(deliveries.filter(has_text="failure")).to_have_count(2)
        expect(deliveries.filter(has_text="recovery")).to_have_count(2)
        page.get_by_role("link", name="Channels", exact=True).click()
        expect(page.locator("table.deliveries tbody tr")).to_have_count(6)
        expect(page.locator("table.deliveries")).to_contain_text("unexpected status 500")
    finally:
        receiver.stop()
        job_target.stop()
    hooks = [r for r in receiver.requests if r.headers["X-Scheduler-Event"] != "test"]
    assert [r.headers["X-Scheduler-Event"] for r in hooks] == ["failure", "recovery"]
    for hook in hooks:
        assert verify(webhook_secret, hook.body, hook.headers["X-Scheduler-Signature"])
    assert [mail["Subject"] for _, mail in inbox.mails] == [
        '[scheduler] Job "checkout" failed', '[scheduler] Job "checkout" recovered']
