"""/notify/channel, /fetch/{fetch_id}/notify, /notify/delivery: notifications."""

from __future__ import annotations

from ...db import unit_of_work
from ...notify.events import EVENTS
from ...services import audit, notify
from .. import schemas
from ..routing import Call, Reply, Route
from ..schemas import named
from ..validation import obj
from .jobs import MAX_ID

_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_TARGET = {"type": "string", "minLength": 1, "maxLength": 2048,
           "description": "webhook: an http(s):// URL; email: an address; apprise: an "
                          "Apprise URL (shown with its secrets masked)."}
_CHANNEL_FIELDS = {"name": _NAME, "type": {"enum": list(notify.CHANNEL_TYPES)},
                   "target": _TARGET}
_EVENTS = {"type": "array", "minItems": 1, "maxItems": len(EVENTS),
           "items": {"enum": list(EVENTS)},
           "x-error": f"must be a non-empty list of: {', '.join(EVENTS)}"}
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_ALL = {"all": {"type": "boolean", "default": False,
                "description": "Everyone's (superusers only)."}}
_DELIVERY_FILTERS = {**_ALL, "channel_id": _ID, "fetch_id": _ID,
                     "status": {"enum": list(notify.DELIVERY_STATUSES)}}


def list_channels(call: Call) -> Reply:
    rows, total = notify.list_channels(call.user, call.query)
    return Reply("List channels", [notify.channel_json(call.ctx, c) for c in rows], total=total)


def create_channel(call: Call) -> Reply:
    channel, secret = notify.create_channel(call.ctx, call.user, call.body)
    return Reply("Channel created!", notify.channel_json(call.ctx, channel, secret))


def get_channel(call: Call) -> Reply:
    return Reply("Success!", notify.channel_json(
        call.ctx, notify.get_channel(call.user, call.params["id"])))


def update_channel(call: Call) -> Reply:
    channel = notify.update_channel(call.ctx, call.user, call.params["id"], call.body)
    return Reply("Channel updated!", notify.channel_json(call.ctx, channel))


def delete_channel(call: Call) -> Reply:
    notify.delete_channel(call.user, call.params["id"])
    return Reply("Channel deleted!")


def rotate_secret(call: Call) -> Reply:
    channel, secret = notify.rotate_secret(call.user, call.params["id"])
    return Reply("Secret rotated!", notify.channel_json(call.ctx, channel, secret))


def test_channel(call: Call) -> Reply:
    # The delivery row is kept whatever the outcome, so this runs outside the audited
    # write transaction; a test that was sent (200) is then recorded on its own.
    delivery = notify.test_channel(call.ctx, call.user, call.params["id"])
    with unit_of_work():
        audit.record(call.actor(), "channel.test", resource="channel",
                     resource_id=call.params["id"])
    return Reply("Test notification sent", delivery.to_json())


def list_subscriptions(call: Call) -> Reply:
    rows, total = notify.list_subscriptions(call.user, call.params["fetch_id"], call.query)
    return Reply("List notifications", [s.to_json() for s in rows], total=total)


def create_subscription(call: Call) -> Reply:
    subscription = notify.create_subscription(call.user, call.params["fetch_id"], call.body)
    return Reply("Notification added", subscription.to_json())


def update_subscription(call: Call) -> Reply:
    subscription = notify.update_subscription(call.user, call.params["fetch_id"],
                                              call.params["id"], call.body)
    return Reply("Notification updated", subscription.to_json())


def delete_subscription(call: Call) -> Reply:
    notify.delete_subscription(call.user, call.params["fetch_id"], call.params["id"])
    return Reply("Notification deleted")


def list_deliveries(call: Call) -> Reply:
    rows, total = notify.list_deliveries(call.user, call.query)
    return Reply("List deliveries", [d.to_json() for d in rows], total=total)


ROUTES = [
    Route("GET", "/notify/channel", list_channels, "The caller's notification channels",
          tag="notifications", paginated=True, query=_ALL,
          data=schemas.list_of(schemas.CHANNEL), errors=(403,), operation_id="listChannels"),
    Route("POST", "/notify/channel", create_channel,
          "Create a channel (a webhook's secret is in this answer only)", tag="notifications",
          status=201,
          body=named("ChannelCreate", obj(_CHANNEL_FIELDS, ("name", "type", "target"))),
          data=schemas.CHANNEL_WITH_SECRET, errors=(400,), operation_id="createChannel",
          action="channel.create"),
    Route("GET", "/notify/channel/{id}", get_channel, "One channel", tag="notifications",
          data=schemas.CHANNEL, errors=(403, 404), operation_id="getChannel"),
    Route("PATCH", "/notify/channel/{id}", update_channel,
          "Rename a channel or change its target", tag="notifications",
          body=named("ChannelUpdate", obj({"name": _NAME, "target": _TARGET})),
          data=schemas.CHANNEL, errors=(400, 403, 404), operation_id="updateChannel",
          action="channel.update"),
    Route("DELETE", "/notify/channel/{id}", delete_channel,
          "Delete a channel with its subscriptions and deliveries", tag="notifications",
          errors=(403, 404), operation_id="deleteChannel", action="channel.delete"),
    Route("POST", "/notify/channel/{id}/rotate-secret", rotate_secret,
          "A new webhook secret (shown in this answer only)", tag="notifications",
          status=201, data=schemas.CHANNEL_WITH_SECRET, errors=(400, 403, 404),
          operation_id="rotateChannelSecret", action="channel.rotate"),
    Route("POST", "/notify/channel/{id}/test", test_channel,
          "Send a test event now and wait for it (502 with the reason if it fails)",
          tag="notifications", data=schemas.DELIVERY, errors=(403, 404, 502),
          operation_id="testChannel",
          # Its delivery row must stay when the test fails (502): the handler records
          # a sent test itself instead of running in the audited write transaction.
          audited=False),
    Route("GET", "/fetch/{fetch_id}/notify", list_subscriptions,
          "A job's notification subscriptions (members)", tag="notifications",
          paginated=True, data=schemas.list_of(schemas.SUBSCRIPTION), errors=(403, 404),
          operation_id="listSubscriptions"),
    Route("POST", "/fetch/{fetch_id}/notify", create_subscription,
          "Subscribe one of the caller's channels to a job's events (members)",
          tag="notifications", status=201,
          body=named("SubscriptionCreate", obj({"channel_id": _ID, "events": _EVENTS},
                                               ("channel_id", "events"))),
          data=schemas.SUBSCRIPTION, errors=(400, 403, 404, 409),
          operation_id="createSubscription", action="subscription.create"),
    Route("PATCH", "/fetch/{fetch_id}/notify/{id}", update_subscription,
          "Change a subscription's events (subscriber, job owner)", tag="notifications",
          body=named("SubscriptionUpdate", obj({"events": _EVENTS})),
          data=schemas.SUBSCRIPTION, errors=(400, 403, 404), operation_id="updateSubscription",
          action="subscription.update"),
    Route("DELETE", "/fetch/{fetch_id}/notify/{id}", delete_subscription,
          "Remove a subscription (subscriber, job owner)", tag="notifications",
          errors=(403, 404), operation_id="deleteSubscription", action="subscription.delete"),
    Route("GET", "/notify/delivery", list_deliveries,
          "Deliveries to the caller's channels, newest first", tag="notifications",
          paginated=True, query=_DELIVERY_FILTERS, data=schemas.list_of(schemas.DELIVERY),
          errors=(403,), operation_id="listDeliveries"),
]
