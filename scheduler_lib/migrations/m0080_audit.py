"""The audit log (API.md section 12): who changed what, and when.

Entries outlive what they name: no foreign keys, so deleting a user or a job keeps
its history; ``username`` is copied so the entry still says who it was.
``changed`` is a JSON array of field names (never values).
"""

NAME = "0080_audit"

STATEMENTS = [
    """CREATE TABLE audit_log (
        id AUTO_PK,
        at TIMESTAMP NOT NULL,
        user_id BIGINT NULL,
        username VARCHAR(150) NULL,
        via VARCHAR(16) NOT NULL,
        api_key_id BIGINT NULL,
        action VARCHAR(64) NOT NULL,
        resource VARCHAR(64) NULL,
        resource_id BIGINT NULL,
        fetch_id BIGINT NULL,
        changed TEXT NOT NULL,
        remote_addr VARCHAR(64) NULL,
        request_id VARCHAR(128) NULL)""",
    "CREATE INDEX audit_log_at ON audit_log (at)",
    "CREATE INDEX audit_log_fetch ON audit_log (fetch_id, at)",
    "CREATE INDEX audit_log_user ON audit_log (user_id, at)",
]


def apply(run) -> None:
    for statement in STATEMENTS:
        run(statement)
