"""How the web app writes days in Russian: the forms after a count, and a card's days in its
stage (`сегодня` on the day it came)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from crm_http.web.format import days_in_stage, days_since, days_text

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("count", "words"),
    [
        (1, "1 день"),
        (2, "2 дня"),
        (4, "4 дня"),
        (5, "5 дней"),
        (11, "11 дней"),
        (12, "12 дней"),
        (14, "14 дней"),
        (21, "21 день"),
        (22, "22 дня"),
        (25, "25 дней"),
        (101, "101 день"),
        (111, "111 дней"),
        (112, "112 дней"),
        (122, "122 дня"),
    ],
)
def test_given_a_count_of_days_then_the_words_take_its_russian_form(count: int, words: str) -> None:
    assert days_text(count) == words.replace(" ", NBSP)
    assert days_in_stage(count) == words.replace(" ", NBSP)


def test_given_a_card_that_came_into_its_stage_today_then_it_says_today() -> None:
    assert days_in_stage(0) == "сегодня"


def test_given_moments_then_days_in_the_stage_count_whole_days_in_utc() -> None:
    today = date(2026, 11, 24)
    assert days_since(datetime(2026, 11, 24, 0, 1, tzinfo=UTC), today) == 0
    assert days_since(datetime(2026, 11, 23, 23, 59, tzinfo=UTC), today) == 1
    assert days_since(datetime(2026, 11, 3, 12, 0, tzinfo=UTC), today) == 21
    assert days_since(None, today) == 0
    # A moment after today (a clock ahead) is still today, never "-1 день".
    assert days_since(datetime(2026, 11, 25, 9, 0, tzinfo=UTC), today) == 0


MOSCOW = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("moment", "days"),
    [
        # Just after midnight in Moscow is still the day before in UTC.
        (datetime(2026, 11, 24, 0, 30, tzinfo=MOSCOW), 1),
        (datetime(2026, 11, 24, 2, 59, tzinfo=MOSCOW), 1),
        (datetime(2026, 11, 24, 3, 0, tzinfo=MOSCOW), 0),
        (datetime(2026, 11, 23, 23, 59, tzinfo=MOSCOW), 1),
        (datetime(2026, 11, 22, 1, 0, tzinfo=MOSCOW), 3),  # 21 November, 22:00 UTC
    ],
)
def test_given_a_moment_in_plus_three_hours_then_its_day_is_the_utc_one(
    moment: datetime, days: int
) -> None:
    assert days_since(moment, date(2026, 11, 24)) == days
