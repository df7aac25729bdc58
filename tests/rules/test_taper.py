"""D6: recent taper = last-30-day mean < 90% of the previous 30-day mean."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from rules.derived.taper import recent_taper
from rules.settings import default_rule_settings

AS_OF = date(2025, 6, 30)
S = default_rule_settings()


def two_levels(prior: float, recent: float) -> dict[date, float]:
    series = {AS_OF - timedelta(days=d): recent for d in range(30)}
    series.update({AS_OF - timedelta(days=d): prior for d in range(30, 60)})
    return series


def test_exactly_90_percent_is_not_a_taper() -> None:
    result = recent_taper(two_levels(100, 90), AS_OF, S)
    assert not result.recent_taper
    assert result.ratio == 0.9
    assert result.reason.startswith("No recent taper")


def test_just_below_90_percent_is_a_taper() -> None:
    result = recent_taper(two_levels(100, 89.9), AS_OF, S)
    assert result.recent_taper
    assert result.recent_mme.value == pytest.approx(89.9)
    assert result.prior_mme.value == pytest.approx(100)
    assert "89.9% of before" in result.reason
    assert "Recent taper" in result.reason
    assert "withdrawal" in result.reason


def test_windows_are_last_30_days_and_the_30_before() -> None:
    result = recent_taper({}, AS_OF, S)
    assert result.recent_window.start == AS_OF - timedelta(days=29)
    assert result.recent_window.end == AS_OF
    assert result.prior_window.end == AS_OF - timedelta(days=30)
    assert result.prior_window.start == AS_OF - timedelta(days=59)


def test_no_prior_opioid_is_not_a_taper() -> None:
    result = recent_taper(two_levels(0, 0), AS_OF, S)
    assert not result.recent_taper
    assert result.ratio is None
    assert "nothing to reduce" in result.reason


def test_stopping_completely_is_a_taper() -> None:
    assert recent_taper(two_levels(60, 0), AS_OF, S).recent_taper


def test_rising_dose_is_not_a_taper() -> None:
    assert not recent_taper(two_levels(60, 90), AS_OF, S).recent_taper
