"""The login throttle's memory in the database: what one worker records, every other counts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from crm_adapters.sql.unit_of_work import SqlUnitOfWork
from crm_core import AccessUseCases
from crm_core.errors import TooManyAttempts
from tests.fakes import FixedClock, PlainHasher
from tests.integration.sql.conftest import START

UowFactory = Callable[[], SqlUnitOfWork]


def unique(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}@example.com"


def test_failures_are_read_newest_first_within_the_window_and_only_when_committed(
    uow: UowFactory,
) -> None:
    email, address = unique("anna"), f"10.0.{uuid.uuid4().int % 250}.1"
    since = START - timedelta(minutes=15)
    with uow() as unit:
        unit.failed_logins.add(email, address, since, forget_before=since)  # at the edge
        for minute in (3, 1, 2):
            unit.failed_logins.add(email, address, START - timedelta(minutes=minute), since)
        unit.commit()
    with uow() as unit:
        unit.failed_logins.add(email, address, START, since)  # rolled back: never counted

    with uow() as unit:
        by_email = unit.failed_logins.times_for_email(email, since, newest=2)
        by_address = unit.failed_logins.times_from_address(address, since, newest=10)

    assert by_email == [START - timedelta(minutes=1), START - timedelta(minutes=2)]
    assert by_address == [START - timedelta(minutes=minute) for minute in (1, 2, 3)]


def test_recording_a_failure_forgets_old_ones_and_a_sign_in_clears_its_email(
    uow: UowFactory,
) -> None:
    old, kept, other = unique("old"), unique("kept"), unique("other")
    long_ago = START - timedelta(days=1)
    with uow() as unit:
        unit.failed_logins.add(old, "10.1.1.1", long_ago, forget_before=long_ago)
        unit.failed_logins.add(kept, "10.1.1.1", START, forget_before=long_ago)
        unit.failed_logins.add(other, "10.1.1.1", START, forget_before=long_ago)
        unit.commit()

    with uow() as unit:
        unit.failed_logins.add(kept, "10.1.1.2", START, forget_before=START - timedelta(hours=1))
        unit.failed_logins.clear_email(other)
        unit.commit()

    ever = START - timedelta(days=30)
    with uow() as unit:
        counts = [len(unit.failed_logins.times_for_email(e, ever, 10)) for e in (old, kept, other)]
    assert counts == [0, 2, 0]


def test_given_two_workers_then_failures_recorded_by_one_are_refused_by_the_other(
    uow: UowFactory,
) -> None:
    clock = FixedClock(START)
    first = AccessUseCases(uow, clock, PlainHasher())
    second = AccessUseCases(uow, clock, PlainHasher())
    email = unique("anna")
    first.create_user(f"Компания {uuid.uuid4().hex[:8]}", email, "s3cret-pw")
    for worker in (first, second) * 5:
        assert worker.log_in(email, "guess", "192.0.2.1") is None

    with pytest.raises(TooManyAttempts) as refused:
        second.log_in(email, "s3cret-pw", "192.0.2.2")

    assert refused.value.retry_after == 15 * 60
    clock.advance(minutes=15)
    assert first.log_in(email, "s3cret-pw", "192.0.2.2") is not None
