"""API key scopes (API.md section 4) and an index for pruning expired refresh tokens.

Keys that existed before scopes keep what they could do on jobs and their resources:
they get ``write``. Minting keys, changing the account and superuser routes now need
an ``admin`` key, which only a new key can be.
"""

NAME = "0050_security"

STATEMENTS = [
    "ALTER TABLE api_keys ADD COLUMN scope VARCHAR(10) NOT NULL DEFAULT 'write'",
    "CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at)",
]


def apply(run) -> None:
    for statement in STATEMENTS:
        run(statement)
