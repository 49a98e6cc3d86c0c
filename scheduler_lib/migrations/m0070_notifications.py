"""Notifications: failure streaks on jobs, channels, subscriptions and the outbox.

``jobs.consecutive_failures`` counts failed runs in a row; ``failure_alerted`` is
true once the streak's ``failure`` event fired (so it fires once per streak and a
later success fires ``recovery``). ``notify_deliveries`` is the outbox: one row per
(event, channel), written in the transaction that records the run's end, sent by
``notify/sender.py``, which claims rows as the engine claims runs
(``claimed_by`` / ``claim_expires_at``). A delivery keeps its row when its job is
deleted (``fetch_id`` set to NULL), so the log still explains what was sent.
"""

NAME = "0070_notifications"

STATEMENTS = [
    "ALTER TABLE jobs ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN alert_after_failures INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE jobs ADD COLUMN pause_after_failures INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN failure_alerted BOOLEAN NOT NULL DEFAULT FALSE",
    # secret: the webhook signing key (whsec_…); NULL for other types.
    """CREATE TABLE notify_channels (
        id AUTO_PK,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name VARCHAR(200) NOT NULL,
        type VARCHAR(16) NOT NULL,
        target TEXT NOT NULL,
        secret VARCHAR(100) NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL)""",
    "CREATE INDEX notify_channels_user ON notify_channels (user_id)",
    # events: a JSON list of event names.
    """CREATE TABLE notify_subscriptions (
        id AUTO_PK,
        fetch_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        channel_id BIGINT NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        events TEXT NOT NULL,
        created_at TIMESTAMP NOT NULL,
        UNIQUE (fetch_id, channel_id))""",
    "CREATE INDEX notify_subscriptions_channel ON notify_subscriptions (channel_id)",
    # facts: the event's payload without delivery_id (added when sent), as JSON text.
    """CREATE TABLE notify_deliveries (
        id AUTO_PK,
        delivery_id VARCHAR(36) NOT NULL,
        channel_id BIGINT NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
        fetch_id BIGINT NULL REFERENCES jobs (id) ON DELETE SET NULL,
        event VARCHAR(16) NOT NULL,
        facts TEXT NOT NULL,
        status VARCHAR(16) NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT NULL,
        next_attempt_at TIMESTAMP NULL,
        claimed_by VARCHAR(64) NULL,
        claim_expires_at TIMESTAMP NULL,
        created_at TIMESTAMP NOT NULL,
        sent_at TIMESTAMP NULL)""",
    "CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at) "
    "WHERE status = 'pending'",
    "CREATE INDEX notify_deliveries_channel ON notify_deliveries (channel_id, id)",
    "CREATE INDEX notify_deliveries_fetch ON notify_deliveries (fetch_id, id)",
]


def apply(run) -> None:
    for statement in STATEMENTS:
        run(statement)
