"""Start-up does no password hashing: the stand-in hash for unknown users is made free."""

import time

import bcrypt

from scheduler_lib.auth import check_password, unmatchable_hash


def test_unmatchable_hash_is_a_real_bcrypt_hash_of_the_configured_cost():
    made = time.perf_counter()
    stand_in = unmatchable_hash(10)
    made = time.perf_counter() - made
    assert stand_in.startswith("$2b$10$") and len(stand_in) == 60
    # bcrypt accepts it (a malformed hash would raise, and a login for an unknown user
    # would then answer faster than one for a known user).
    assert bcrypt.checkpw(b"any password", stand_in.encode()) is False
    assert check_password("any password", stand_in) is False
    checked = time.perf_counter()
    bcrypt.checkpw(b"another one", stand_in.encode())
    checked = time.perf_counter() - checked
    assert made < checked  # making it is free, checking it costs a bcrypt
