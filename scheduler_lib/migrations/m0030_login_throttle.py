"""Failed logins, kept in the database so every node of a cluster sees the same
throttle state (see ``services/throttle.py``)."""

NAME = "0030_login_throttle"

STATEMENTS = [
    # identifier_hash: sha256 of the lower-cased identifier, so that a password typed
    # into the username field by mistake is never stored readable.
    """CREATE TABLE login_failures (
        id AUTO_PK,
        identifier_hash VARCHAR(64) NOT NULL,
        client_addr VARCHAR(64) NOT NULL,
        failed_at TIMESTAMP NOT NULL)""",
    "CREATE INDEX login_failures_pair ON login_failures (identifier_hash, client_addr, failed_at)",
    "CREATE INDEX login_failures_addr ON login_failures (client_addr, failed_at)",
    "CREATE INDEX login_failures_time ON login_failures (failed_at)",
]


def apply(run) -> None:
    for statement in STATEMENTS:
        run(statement)
