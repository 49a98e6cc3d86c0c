"""API.md section 5: schedules (/fetch/execute) and the next-run preview."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from helpers.envelope import assert_envelope
from helpers.world import HOURLY, create, make_job, ok, snapshot

from scheduler_lib.models import Job
from scheduler_lib.timeutil import parse_iso, utcnow

FIELDS = {"id", "user_id", "name", "is_repeat", "type", "value", "cron", "timezone",
          "created_at", "updated_at"}


def test_create_interval_and_cron_schedules(server):
    api, token = server.api, server.admin.token
    body = assert_envelope(api.post("/fetch/execute", {"name": "often", "type": "minutes",
                                                       "value": 5}, token=token),
                           201, "Api execute created!", "/fetch/execute")
    data = body["data"]
    assert set(data) == FIELDS
    assert data["user_id"] == server.admin.id
    assert (data["is_repeat"], data["value"], data["cron"], data["timezone"]) == \
        (True, 5, None, "UTC")

    # The expression is stored as written, runs of blanks collapsed; aliases stay.
    cron = ok(api.post("/fetch/execute", {"name": "c", "type": "cron", "cron": " 30  9 * * 1-5 ",
                                          "timezone": "Europe/Berlin", "is_repeat": False,
                                          "value": 3}, token=token), 201)
    assert (cron["cron"], cron["timezone"], cron["value"], cron["is_repeat"]) == \
        ("30 9 * * 1-5", "Europe/Berlin", None, False)
    daily = ok(api.post("/fetch/execute", {"name": "d", "type": "cron", "cron": "@daily"},
                        token=token), 201)
    assert daily["cron"] == "@daily"

    body = assert_envelope(api.get(f"/fetch/execute/{cron['id']}", token=token), 200,
                           "Success get api execute")
    assert body["data"] == cron


def test_bad_schedules_are_400_and_change_nothing(server):
    api, token = server.api, server.admin.token
    cases = [
        ({"type": "seconds", "value": 5}, "Field 'name' is required"),
        ({"name": "x"}, "Field 'type' is required"),
        ({"name": "x", "type": "weeks", "value": 1}, "Field 'type' must be one of"),
        ({"name": "x", "type": "seconds"}, "Field 'value' is required"),
        ({"name": "x", "type": "seconds", "value": 0}, "Field 'value' must be at least 1"),
        ({"name": "x", "type": "seconds", "value": -3}, "Field 'value' must be at least 1"),
        ({"name": "x", "type": "seconds", "value": "5"}, "Field 'value' must be an integer"),
        ({"name": "x", "type": "seconds", "value": 1.5}, "Field 'value' must be an integer"),
        ({"name": "x", "type": "days", "value": 4000}, "Field 'value' must give an interval"),
        ({"name": "x", "type": "cron"}, "Field 'cron' is required"),
        ({"name": "x", "type": "cron", "cron": "* * * *"}, "Field 'cron' is not a valid"),
        ({"name": "x", "type": "cron", "cron": "61 * * * *"}, "Field 'cron' is not a valid"),
        ({"name": "x", "type": "cron", "cron": "0 0 30 2 *"}, "Field 'cron' is not a valid"),
        ({"name": "x", "type": "cron", "cron": "@often"}, "Field 'cron' is not a valid"),
        ({"name": "x", "type": "cron", "cron": 5}, "Field 'cron' must be a string"),
        ({"name": "x", "type": "cron", "cron": "@daily", "timezone": "Mars/Olympus"},
         "Field 'timezone' must be an IANA time zone"),
        ({"name": "x", "type": "cron", "cron": "@daily", "timezone": None},
         "Field 'timezone' must be a string"),
        ({"name": "x", "type": "hours", "value": 1, "is_repeat": "no"},
         "Field 'is_repeat' must be a boolean"),
        ({"name": "x", "type": "hours", "value": 1, "is_repeat": 0},
         "Field 'is_repeat' must be a boolean"),
        ({"name": "", "type": "hours", "value": 1}, "Field 'name' must be at least"),
        ({"name": 7, "type": "hours", "value": 1}, "Field 'name' must be a string"),
        ({"name": "x", "type": "hours", "value": 1, "owner": 2}, "Unknown field 'owner'"),
    ]
    before = snapshot()
    for body, message in cases:
        r = api.post("/fetch/execute", body, token=token)
        assert_envelope(r, 400)
        assert r.message.startswith(message), (body, r.message)
    target = ok(api.post("/fetch/execute", HOURLY, token=token), 201)
    before = snapshot()
    for patch, message in [
        ({"type": "weeks"}, "Field 'type' must be one of"),
        ({"value": 0}, "Field 'value' must be at least 1"),
        ({"value": None}, "Field 'value' is required when type is hours"),
        ({"value": 100000}, "Field 'value' must give an interval of at most"),
        ({"type": "cron"}, "Field 'cron' is required when type is cron"),
        ({"type": "cron", "cron": "1 2 3"}, "Field 'cron' is not a valid"),
        ({"timezone": "Not/AZone"}, "Field 'timezone' must be an IANA"),
        ({"is_repeat": None}, "Field 'is_repeat' must be a boolean"),
        ({"name": None}, "Field 'name' must be a string"),
        ({"user_id": 5}, "Unknown field 'user_id'"),
    ]:
        r = api.patch(f"/fetch/execute/{target['id']}", patch, token=token)
        assert_envelope(r, 400)
        assert r.message.startswith(message), (patch, r.message)
    assert snapshot() == before


def test_minimum_interval_is_configurable(start_server):
    server = start_server(scheduler__min_interval_seconds=60)
    api, token = server.api, server.admin.token
    r = api.post("/fetch/execute", {"name": "x", "type": "seconds", "value": 59}, token=token)
    assert_envelope(r, 400)
    assert "at least 60 second" in r.message
    ok(api.post("/fetch/execute", {"name": "x", "type": "seconds", "value": 60}, token=token), 201)
    ok(api.post("/fetch/execute", {"name": "x", "type": "minutes", "value": 1}, token=token), 201)


def test_owner_only_visibility_and_all_flag(server):
    api = server.api
    alice, bob = server.make_user("alice"), server.make_user("bob")
    mine = create(server, alice, "/fetch/execute", HOURLY)
    create(server, bob, "/fetch/execute", HOURLY)

    r = api.get("/fetch/execute", token=alice.token)
    assert_envelope(r, 200, "List get api execute")
    assert [s["id"] for s in r.data] == [mine["id"]] and r.headers["X-Total-Count"] == "1"

    before = snapshot()
    for r in (api.get(f"/fetch/execute/{mine['id']}", token=bob.token),
              api.patch(f"/fetch/execute/{mine['id']}", {"value": 2}, token=bob.token),
              api.delete(f"/fetch/execute/{mine['id']}", token=bob.token)):
        assert_envelope(r, 403, "You are not the owner of this api execute!")
    assert snapshot() == before
    assert_envelope(api.get("/fetch/execute/999", token=bob.token), 404)
    assert_envelope(api.get("/fetch/execute?all=true", token=bob.token), 403)

    r = api.get("/fetch/execute?all=true&limit=1&offset=1", token=server.admin.token)
    assert r.status == 200 and r.headers["X-Total-Count"] == "2" and len(r.data) == 1
    assert api.get("/fetch/execute", token=server.admin.token).data == []
    ok(api.get(f"/fetch/execute/{mine['id']}", token=server.admin.token))
    assert_envelope(api.get("/fetch/execute?limit=0", token=alice.token), 400)
    assert_envelope(api.get("/fetch/execute?all=1", token=alice.token), 400)


def test_delete_is_409_while_a_job_uses_it(server):
    api, token = server.api, server.admin.token
    schedule = ok(api.post("/fetch/execute", HOURLY, token=token), 201)
    job = make_job(server, server.admin, schedule["id"], is_active=False)
    before = snapshot()
    assert_envelope(api.delete(f"/fetch/execute/{schedule['id']}", token=token), 409)
    assert snapshot() == before
    ok(api.delete(f"/fetch/{job['id']}", token=token))
    assert_envelope(api.delete(f"/fetch/execute/{schedule['id']}", token=token), 200,
                    "Api execute deleted!")
    assert_envelope(api.get(f"/fetch/execute/{schedule['id']}", token=token), 404)


def test_patch_reschedules_active_jobs_at_once(server):
    api, token = server.api, server.admin.token
    schedule = ok(api.post("/fetch/execute", HOURLY, token=token), 201)
    active = make_job(server, server.admin, schedule["id"])
    idle = make_job(server, server.admin, schedule["id"], is_active=False)

    # A new name changes nothing about when jobs run.
    r = api.patch(f"/fetch/execute/{schedule['id']}", {"name": "renamed"}, token=token)
    assert_envelope(r, 200, "Api execute updated!")
    assert ok(api.get(f"/fetch/{active['id']}", token=token))["job_id"] == active["job_id"]

    start = utcnow()
    r = api.patch(f"/fetch/execute/{schedule['id']}", {"type": "days", "value": 2}, token=token)
    data = ok(r)
    assert (data["type"], data["value"], data["name"]) == ("days", 2, "renamed")
    assert parse_iso(data["updated_at"]) > parse_iso(schedule["updated_at"])
    moved = ok(api.get(f"/fetch/{active['id']}", token=token))
    assert moved["job_id"] != active["job_id"]
    due = parse_iso(moved["next_run_at"])
    assert start + timedelta(days=2) <= due <= utcnow() + timedelta(days=2)
    assert ok(api.get(f"/fetch/{idle['id']}", token=token))["next_run_at"] is None

    # Switching to cron clears value; the next run is the next match.
    data = ok(api.patch(f"/fetch/execute/{schedule['id']}",
                        {"type": "cron", "cron": "0 12 * * *", "timezone": "Asia/Tokyo"},
                        token=token))
    assert (data["value"], data["cron"]) == (None, "0 12 * * *")
    due = parse_iso(ok(api.get(f"/fetch/{active['id']}", token=token))["next_run_at"])
    assert due.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Asia/Tokyo")).hour == 12
    assert due - utcnow() <= timedelta(days=1)
    # A one-shot job that has run (the engine cleared next_run_at) stays done.
    once = ok(api.post("/fetch/execute", {**HOURLY, "is_repeat": False}, token=token), 201)
    ran, waiting = (make_job(server, server.admin, once["id"]) for _ in range(2))
    Job.update(next_run_at=None, last_run_at=utcnow(), last_status="success").where(
        Job.id == ran["id"]).execute()
    ok(api.patch(f"/fetch/execute/{once['id']}", {"value": 3}, token=token))
    assert ok(api.get(f"/fetch/{ran['id']}", token=token))["next_run_at"] is None
    moved = ok(api.get(f"/fetch/{waiting['id']}", token=token))
    assert moved["job_id"] != waiting["job_id"]
    assert parse_iso(moved["next_run_at"]) - utcnow() > timedelta(hours=2)
    # Back to an interval needs a value again.
    r = api.patch(f"/fetch/execute/{schedule['id']}", {"type": "hours"}, token=token)
    assert_envelope(r, 400)
    assert r.message == "Field 'value' is required when type is hours"


def test_preview_interval_and_cron(server):
    api, token = server.api, server.admin.token
    start = utcnow()
    r = api.get("/fetch/execute/preview?type=minutes&value=10&count=3", token=token)
    assert_envelope(r, 200, "Next run times", "/fetch/execute/preview")
    times = [parse_iso(t) for t in r.data]
    assert len(times) == 3
    assert start + timedelta(minutes=10) <= times[0] <= utcnow() + timedelta(minutes=10)
    assert times[2] - times[1] == times[1] - times[0] == timedelta(minutes=10)
    assert len(ok(api.get("/fetch/execute/preview?type=hours&value=1", token=token))) == 5

    # Monthly at noon in Berlin, 20 months: both UTC+1 (winter) and UTC+2 (summer).
    r = api.get("/fetch/execute/preview?type=cron&cron=0%2012%201%20*%20*"
                "&timezone=Europe/Berlin&count=20", token=token)
    times = [parse_iso(t) for t in ok(r)]
    assert len(times) == 20 and times == sorted(times)
    berlin = [t.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Europe/Berlin"))
              for t in times]
    assert all((b.day, b.hour, b.minute) == (1, 12, 0) for b in berlin)
    assert {t.hour for t in times} == {10, 11}


def test_preview_bad_input_and_auth(server):
    api, token = server.api, server.admin.token
    for query, message in [
        ("", "Query parameter 'type' is required"),
        ("?type=weeks&value=1", "Query parameter 'type' must be one of"),
        ("?type=seconds", "Query parameter 'value' is required"),
        ("?type=seconds&value=0", "Query parameter 'value' must be at least 1"),
        ("?type=seconds&value=x", "Query parameter 'value' must be an integer"),
        ("?type=cron", "Query parameter 'cron' is required"),
        ("?type=cron&cron=nope", "Query parameter 'cron' is not a valid"),
        ("?type=cron&cron=@daily&timezone=Nowhere/Land", "Query parameter 'timezone'"),
        ("?type=hours&value=1&count=0", "Query parameter 'count' must be at least 1"),
        ("?type=hours&value=1&count=21", "Query parameter 'count' must be at most 20"),
    ]:
        r = api.get("/fetch/execute/preview" + query, token=token)
        assert_envelope(r, 400)
        assert r.message.startswith(message), (query, r.message)
    assert_envelope(api.get("/fetch/execute/preview?type=hours&value=1"), 401)
    # The preview path does not shadow the id routes, nor they it.
    assert_envelope(api.post("/fetch/execute/preview", {}, token=token), 405)
    assert_envelope(api.get("/fetch/execute/1", token=token), 404)


def test_dst_gap_and_repeat():
    """02:30 daily in Berlin: skipped on the spring-forward day, once on fall-back."""
    from scheduler_lib.timing import cron_preview
    march = cron_preview("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 27), 4)
    local = [t.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Europe/Berlin"))
             for t in march]
    assert len({t.date() for t in local}) == 4 and len(set(march)) == 4
    october = cron_preview("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 23), 5)
    assert len(set(october)) == 5
    assert sum(1 for t in october if t.date() == datetime(2026, 10, 25).date()) == 1
