"""Password guessing: failed sign-ins are counted per email and per client address, and past
the limits sign-in is refused, before any password hash is computed, until the window passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_core import AccessUseCases
from crm_core.errors import TooManyAttempts
from crm_core.tenancy import LoginThrottle
from tests.fakes import PlainHasher
from tests.unit.conftest import Crm

HOME = "203.0.113.7"
ELSEWHERE = "198.51.100.9"
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class CountingHasher(PlainHasher):
    """Counts the password hashes computed (verify included: it hashes the candidate)."""

    def __init__(self) -> None:
        self.computed = 0

    def hash(self, password: str) -> str:
        self.computed += 1
        return super().hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.computed += 1
        return super().verify(password_hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def access(crm: Crm, hasher: CountingHasher) -> AccessUseCases:
    access = AccessUseCases(crm.db.unit_of_work, crm.clock, hasher)
    access.create_user("ООО Ромашка", "anna@example.com", "s3cret-pw")
    return access


def fail(
    access: AccessUseCases, times: int, email: str = "anna@example.com", at: str = HOME
) -> None:
    for _ in range(times):
        assert access.log_in(email, "guess", at) is None


# --- the rule -------------------------------------------------------------------------------


def test_given_fewer_failures_than_the_limit_then_nothing_is_refused() -> None:
    throttle = LoginThrottle()
    failures = [T0 - timedelta(minutes=minute) for minute in range(9)]

    throttle.refuse_if_exceeded(T0, failures, failures)


def test_given_the_limit_reached_then_the_wait_ends_when_the_limit_th_newest_failure_leaves() -> (
    None
):
    throttle = LoginThrottle()
    # Newest first: 0, 1, ..., 9 minutes ago, plus one from before the window.
    failures = [T0 - timedelta(minutes=minute) for minute in range(10)]
    failures.append(T0 - timedelta(minutes=20))

    with pytest.raises(TooManyAttempts) as refused:
        throttle.refuse_if_exceeded(T0, failures, [])

    # The failure of 9 minutes ago leaves the 15-minute window in 6 minutes.
    assert refused.value.retry_after == 6 * 60


def test_given_the_address_limit_then_the_longer_of_both_waits_is_asked() -> None:
    throttle = LoginThrottle(per_email=2, per_address=3, window=timedelta(minutes=10))
    by_email = [T0 - timedelta(minutes=1), T0 - timedelta(minutes=2)]
    by_address = [T0 - timedelta(seconds=1)] * 2 + [T0 - timedelta(minutes=4, seconds=0.5)]

    with pytest.raises(TooManyAttempts) as refused:
        throttle.refuse_if_exceeded(T0, by_email, by_address)

    assert refused.value.retry_after == 8 * 60  # the email's wait; the address's is 5:59.5


def test_a_failure_exactly_a_window_ago_no_longer_counts() -> None:
    throttle = LoginThrottle(per_email=1)

    throttle.refuse_if_exceeded(T0, [T0 - timedelta(minutes=15)], [])
    with pytest.raises(TooManyAttempts) as refused:
        throttle.refuse_if_exceeded(T0, [T0 - timedelta(minutes=14, seconds=59.5)], [])
    assert refused.value.retry_after == 1  # rounded up, never 0


def test_a_client_address_is_counted_as_given_and_bounded() -> None:
    assert LoginThrottle.address_key(None) == ""
    assert LoginThrottle.address_key("::1") == "::1"
    assert len(LoginThrottle.address_key("f" * 100)) == 64


# --- the use case ---------------------------------------------------------------------------


def test_given_ten_failures_for_an_email_then_even_the_right_password_is_refused_unhashed(
    crm: Crm, access: AccessUseCases, hasher: CountingHasher
) -> None:
    fail(access, 10)
    hashed = hasher.computed
    crm.clock.advance(minutes=5)

    with pytest.raises(TooManyAttempts) as refused:
        access.log_in("ANNA@example.com", "s3cret-pw", ELSEWHERE)

    assert refused.value.retry_after == 10 * 60
    assert hasher.computed == hashed


def test_given_a_refused_email_when_the_window_passes_then_the_right_password_signs_in(
    crm: Crm, access: AccessUseCases
) -> None:
    fail(access, 10)
    crm.clock.advance(minutes=14)
    with pytest.raises(TooManyAttempts):
        access.log_in("anna@example.com", "s3cret-pw", HOME)

    crm.clock.advance(minutes=1)

    assert access.log_in("anna@example.com", "s3cret-pw", HOME) is not None


def test_refused_attempts_do_not_lengthen_the_wait(crm: Crm, access: AccessUseCases) -> None:
    fail(access, 10)
    for _ in range(5):
        crm.clock.advance(minutes=2)
        with pytest.raises(TooManyAttempts):
            access.log_in("anna@example.com", "guess", HOME)

    with pytest.raises(TooManyAttempts) as refused:
        access.log_in("anna@example.com", "guess", HOME)

    assert refused.value.retry_after == 5 * 60


def test_given_fifty_failures_from_one_address_then_that_address_is_refused_for_anyone(
    access: AccessUseCases, hasher: CountingHasher
) -> None:
    for number in range(50):
        fail(access, 1, email=f"guess{number}@example.com")
    hashed = hasher.computed

    with pytest.raises(TooManyAttempts):
        access.log_in("anna@example.com", "s3cret-pw", HOME)
    with pytest.raises(TooManyAttempts):
        access.log_in("not an email", "s3cret-pw", HOME)
    assert hasher.computed == hashed
    assert access.log_in("anna@example.com", "s3cret-pw", ELSEWHERE) is not None


def test_unknown_emails_are_counted_like_known_ones(access: AccessUseCases) -> None:
    fail(access, 10, email="nobody@example.com")

    with pytest.raises(TooManyAttempts):
        access.log_in("nobody@example.com", "guess", ELSEWHERE)


def test_a_successful_sign_in_clears_the_emails_failures(access: AccessUseCases) -> None:
    fail(access, 9)
    assert access.log_in("anna@example.com", "s3cret-pw", HOME) is not None

    fail(access, 9)

    assert access.log_in("anna@example.com", "s3cret-pw", HOME) is not None


def test_failures_older_than_the_window_are_deleted_as_new_ones_come(
    crm: Crm, access: AccessUseCases
) -> None:
    fail(access, 10)
    crm.clock.advance(minutes=16)

    fail(access, 1, email="pavel@example.com")

    assert [row.email for row in crm.db.rows("failed_logins")] == ["pavel@example.com"]
