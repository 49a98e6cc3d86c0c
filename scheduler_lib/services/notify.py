"""Notification channels, job subscriptions and the delivery log (API.md section 11).

Channels belong to their creator (same rule as schedules: 404 missing, 403 someone
else's). A webhook channel's secret is made on create and on rotate and returned
only then. Targets are checked and shown by the channel type's transport
(``notify/channels``), so an Apprise URL is never shown with its tokens.
Subscriptions tie a channel of the subscriber's to a job they are a member of.
"""

from __future__ import annotations

import logging
from typing import Any

import peewee

from ..context import AppContext
from ..db import database
from ..errors import BadGateway, BadRequest, Conflict, Forbidden, NotFound
from ..models import Channel, Delivery, Job, Subscription, User
from ..notify.channels import TRANSPORTS, ChannelInfo, TransportError, transport_for
from ..notify.channels.webhook import new_secret
from ..notify.events import TEST_EVENT, Message
from ..notify.outbox import NewDelivery, insert_deliveries
from ..notify.sender import public_url
from ..timeutil import iso, utcnow
from . import access

__all__ = ["CHANNEL_TYPES", "channel_json", "list_channels", "create_channel", "get_channel",
           "update_channel", "delete_channel", "rotate_secret", "test_channel",
           "list_subscriptions", "create_subscription", "update_subscription",
           "delete_subscription", "list_deliveries", "DELIVERY_STATUSES"]

CHANNEL_TYPES = tuple(TRANSPORTS)
DELIVERY_STATUSES = ("pending", "sent", "failed")
_WHAT = "channel"

log = logging.getLogger("scheduler.notify")


def channel_json(ctx: AppContext, channel: Channel, secret: str | None = None) -> dict[str, Any]:
    """A channel's JSON shape; ``secret`` only in the answers that create one."""
    shown = {
        "id": channel.id,
        "user_id": channel.user_id,
        "name": channel.name,
        "type": channel.type,
        "target": transport_for(channel.type, ctx.settings).display_target(channel.target),
        "created_at": iso(channel.created_at),
        "updated_at": iso(channel.updated_at),
    }
    if secret is not None:
        shown["secret"] = secret
    return shown


def list_channels(user: User, query: dict[str, Any]) -> tuple[list[Channel], int]:
    rows = Channel.select().order_by(Channel.id)
    if not access.check_all_flag(user, query):
        rows = rows.where(Channel.user == user.id)
    return list(rows.limit(query["limit"]).offset(query["offset"])), rows.count()


def create_channel(ctx: AppContext, user: User, body: dict[str, Any]) -> tuple[Channel, str | None]:
    """The new channel and its secret (webhooks) or None."""
    transport = transport_for(body["type"], ctx.settings)
    target = transport.check_target(body["target"])
    secret = new_secret() if transport.has_secret else None
    now = utcnow()
    channel = Channel.create(user=user.id, name=body["name"], type=body["type"], target=target,
                             secret=secret, created_at=now, updated_at=now)
    return channel, secret


def get_channel(user: User, channel_id: int) -> Channel:
    return access.owned_row(user, Channel, channel_id, _WHAT,
                            NotFound(f"Channel with id {channel_id} not found"))


def update_channel(ctx: AppContext, user: User, channel_id: int,
                   changes: dict[str, Any]) -> Channel:
    """Name and target may change; the type stays (create another channel instead)."""
    with database.atomic():
        channel = get_channel(user, channel_id)
        if "name" in changes:
            channel.name = changes["name"]
        if "target" in changes:
            channel.target = transport_for(channel.type, ctx.settings).check_target(
                changes["target"])
        channel.updated_at = utcnow()
        channel.save()
    return channel


def delete_channel(user: User, channel_id: int) -> None:
    """Delete the channel with its subscriptions and deliveries."""
    with database.atomic():
        channel = get_channel(user, channel_id)
        Subscription.delete().where(Subscription.channel == channel.id).execute()
        Delivery.delete().where(Delivery.channel == channel.id).execute()
        channel.delete_instance()


def rotate_secret(user: User, channel_id: int) -> tuple[Channel, str]:
    with database.atomic():
        channel = get_channel(user, channel_id)
        if channel.secret is None:
            raise BadRequest("Only webhook channels have a secret")
        channel.secret = new_secret()
        channel.updated_at = utcnow()
        channel.save()
    return channel, channel.secret


def test_channel(ctx: AppContext, user: User, channel_id: int) -> Delivery:
    """Send a ``test`` event now, in this thread, and log it as a delivery.

    BadGateway (502) with the reason when it failed.
    """
    channel = get_channel(user, channel_id)
    owner = User.get_by_id(channel.user_id)
    now = utcnow()
    item = NewDelivery(channel.id, None, TEST_EVENT, {"occurred_at": iso(now)})
    message = Message.from_facts(TEST_EVENT, item.delivery_id, item.facts,
                                 public_url(ctx.settings))
    info = ChannelInfo(channel.id, channel.type, channel.target, channel.secret,
                       owner.is_superuser)
    error = None
    try:
        transport_for(channel.type, ctx.settings).notify(info, message)
    except TransportError as exc:
        error = str(exc)
    except Exception as exc:  # a transport's bug is this test's failure, never a 500
        log.exception("test of channel %s (%s) failed unexpectedly", channel.id, channel.type)
        error = f"internal error: {type(exc).__name__}"
    with database.atomic():
        insert_deliveries([item], utcnow(), status="failed" if error else "sent", attempts=1,
                          error=error)
    if error is not None:
        raise BadGateway(f"Test notification failed: {error}")
    return Delivery.get(Delivery.delivery_id == item.delivery_id)


def _usable_channel(user: User, channel_id: int) -> Channel:
    """A channel the caller may subscribe: unknown → 400, someone else's → 403."""
    channel = Channel.get_or_none(Channel.id == channel_id)
    if channel is None:
        raise BadRequest("Channel ID not found")
    if channel.user_id != user.id:
        raise Forbidden("You are not the owner of this channel!")
    return channel


def list_subscriptions(user: User, job_id: int,
                       query: dict[str, Any]) -> tuple[list[Subscription], int]:
    access.require(user, job_id, access.READ)
    rows = Subscription.select().where(Subscription.job == job_id).order_by(Subscription.id)
    return list(rows.limit(query["limit"]).offset(query["offset"])), rows.count()


def create_subscription(user: User, job_id: int, body: dict[str, Any]) -> Subscription:
    try:
        with database.atomic():
            job = access.require(user, job_id, access.READ)
            channel = _usable_channel(user, body["channel_id"])
            if Subscription.get_or_none(Subscription.job == job.id,
                                        Subscription.channel == channel.id):
                raise Conflict("This channel is already subscribed to this job")
            return Subscription.create(job=job.id, channel=channel.id, user=user.id,
                                       events=_unique(body["events"]), created_at=utcnow())
    except peewee.IntegrityError:
        raise Conflict("This channel is already subscribed to this job") from None


def _unique(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))


def _own_subscription(user: User, job_id: int, subscription_id: int) -> Subscription:
    """The subscription if the caller is its subscriber or the job's owner (or superuser)."""
    job: Job = access.require(user, job_id, access.READ)
    subscription = Subscription.get_or_none(Subscription.id == subscription_id,
                                            Subscription.job == job.id)
    if subscription is None:
        raise NotFound(f"Notification with id {subscription_id} not found")
    if subscription.user_id != user.id and not user.is_superuser \
            and access.role_of(user, job) != "owner":
        raise Forbidden("Only the subscriber or the job's owner may change this notification")
    return subscription


def update_subscription(user: User, job_id: int, subscription_id: int,
                        changes: dict[str, Any]) -> Subscription:
    with database.atomic():
        subscription = _own_subscription(user, job_id, subscription_id)
        if "events" in changes:
            subscription.events = _unique(changes["events"])
            subscription.save()
    return subscription


def delete_subscription(user: User, job_id: int, subscription_id: int) -> None:
    with database.atomic():
        _own_subscription(user, job_id, subscription_id).delete_instance()


def list_deliveries(user: User, query: dict[str, Any]) -> tuple[list[Delivery], int]:
    """Deliveries of the caller's channels (``?all=true``: everyone's), newest first."""
    rows = Delivery.select().order_by(Delivery.id.desc())
    if not access.check_all_flag(user, query):
        rows = rows.where(Delivery.channel.in_(
            Channel.select(Channel.id).where(Channel.user == user.id)))
    if query.get("channel_id") is not None:
        rows = rows.where(Delivery.channel == query["channel_id"])
    if query.get("fetch_id") is not None:
        rows = rows.where(Delivery.job == query["fetch_id"])
    if query.get("status") is not None:
        rows = rows.where(Delivery.status == query["status"])
    return list(rows.limit(query["limit"]).offset(query["offset"])), rows.count()
