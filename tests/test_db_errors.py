"""A saturated database answers 503 (try again), not 500: which errors count as busy."""

import peewee
from playhouse.pool import MaxConnectionsExceeded

from scheduler_lib.db import is_busy_error


def test_pool_exhaustion_and_sqlite_lock_timeouts_are_busy():
    assert is_busy_error(MaxConnectionsExceeded("Max connections exceeded, timed out"))
    assert is_busy_error(peewee.OperationalError("database is locked"))


def test_other_database_errors_are_not_busy():
    assert not is_busy_error(peewee.OperationalError("no such table: jobs"))
    assert not is_busy_error(peewee.IntegrityError("UNIQUE constraint failed"))
    assert not is_busy_error(ValueError("database is locked"))
