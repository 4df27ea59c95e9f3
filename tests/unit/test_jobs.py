"""The rules of background work that need no database: back-off, giving up, periodic keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from crm_core.jobs import (
    RATE_LIMITED_WAIT,
    Backoff,
    Dead,
    Done,
    Job,
    RetryAt,
    periodic_key,
    settle,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def job(attempts: int, max_attempts: int = 5) -> Job:
    return Job("id", "touch", "touch:1", {}, attempts, max_attempts, "token")


def test_given_full_jitter_when_a_retry_is_planned_then_it_lies_within_the_doubling_bound() -> None:
    highest = Backoff(jitter=lambda low, high: high)
    lowest = Backoff(jitter=lambda low, high: low)

    assert highest.retry_at(job(1), NOW, "x").when == NOW + timedelta(seconds=4)
    assert highest.retry_at(job(3), NOW, "x").when == NOW + timedelta(seconds=16)
    assert lowest.retry_at(job(3), NOW, "x").when == NOW


@given(st.integers(min_value=0, max_value=200))
def test_given_any_attempt_then_the_delay_never_passes_the_cap(attempts: int) -> None:
    backoff = Backoff(jitter=lambda low, high: high)

    retry = backoff.retry_at(job(attempts, max_attempts=1000), NOW, "x")

    assert NOW <= retry.when <= NOW + backoff.cap


def test_given_a_rate_limit_then_the_wait_is_at_least_its_floor() -> None:
    backoff = Backoff(jitter=lambda low, high: low)

    retry = backoff.retry_at(job(1), NOW, "429", at_least=RATE_LIMITED_WAIT)

    assert retry.when == NOW + RATE_LIMITED_WAIT
    assert retry.why == "429"


def test_given_the_last_attempt_when_it_asks_for_a_retry_then_the_job_is_dead() -> None:
    retry = RetryAt(NOW + timedelta(minutes=1), "timeout")

    assert settle(job(4), retry) == retry
    given_up = settle(job(5), retry)

    assert isinstance(given_up, Dead)
    assert "timeout" in given_up.why and "5" in given_up.why


def test_given_done_or_dead_then_settling_keeps_them() -> None:
    assert settle(job(5), Done()) == Done()
    assert settle(job(1), Dead("no")) == Dead("no")


def test_given_two_processes_in_one_bucket_then_they_make_the_same_periodic_key() -> None:
    every = timedelta(minutes=5)
    first = periodic_key("check_webhook", NOW, every, scope="account-1")
    second = periodic_key("check_webhook", NOW + timedelta(minutes=4), every, scope="account-1")
    later = periodic_key("check_webhook", NOW + timedelta(minutes=5), every, scope="account-1")

    assert first == second
    assert later != first
    assert first.startswith("check_webhook:account-1:")
