"""Notifications: when a job breaks (or heals, or is paused), a person learns it.

    events.py     what happened: the event names and the message sent for one
    channels/     where it goes: one module per channel type (webhook, email,
                  apprise), each a ``Transport``, named in ``channels.TRANSPORTS``
    outbox.py     the engine's hook: failure streaks and the delivery rows, written in
                  the transaction that records a run's end
    sender.py     the thread that sends pending deliveries, with retries and backoff,
                  each claimed by one node

Webhook and Apprise targets follow ``fetch.deny_private_networks`` through
``netguard``, as jobs do.

Nothing here imports bottle; ``services/notify.py`` and ``api/routes/notify.py``
expose it over HTTP.
"""
