"""Card C's "previous taper failed" trigger, read on maintained dose levels."""

from __future__ import annotations

from datetime import date, timedelta

from rules.derived.common import DailySeries
from rules.derived.failed_taper import failed_taper
from rules.settings import default_rule_settings

S = default_rule_settings()  # failed_taper_min_days 28, recent_taper_ratio 0.9
AS_OF = date(2025, 6, 30)


def series(*levels: tuple[float, int]) -> DailySeries:
    """Consecutive (MME/day, days) levels ending on AS_OF."""
    values = [mme for mme, days in levels for _ in range(days)]
    return DailySeries(AS_OF - timedelta(days=len(values) - 1), values)


def test_an_escalation_without_reduction_is_no_taper() -> None:
    result = failed_taper(series((30, 60), (60, 60), (120, 60)), AS_OF, S)
    assert not result.failed
    assert result.reason.startswith("No previous taper")


def test_a_taper_that_held_is_not_failed() -> None:
    result = failed_taper(series((60, 60), (40, 90)), AS_OF, S)
    assert not result.failed
    assert result.reason.startswith("A previous taper held")
    assert (result.peak_mme, result.taper_mme) == (60, 40)


def test_a_return_to_the_previous_level_is_a_failed_taper() -> None:
    result = failed_taper(series((10, 20), (60, 60), (30, 60), (60, 40)), AS_OF, S)
    assert result.failed
    assert (result.peak_mme, result.taper_mme) == (60, 30)
    assert result.returned_on == AS_OF - timedelta(days=39)
    assert result.peak is not None
    assert result.taper is not None
    assert result.peak.end + timedelta(days=1) == result.taper.start
    assert "did not hold" in result.reason
    assert "60 MME/day" in result.reason
    assert "30 MME/day" in result.reason


def test_a_return_today_counts_however_short() -> None:
    assert failed_taper(series((60, 60), (30, 60), (60, 5)), AS_OF, S).failed


def test_a_return_part_of_the_way_is_not_failed() -> None:
    assert not failed_taper(series((60, 60), (30, 60), (50, 40)), AS_OF, S).failed


def test_a_reduction_of_less_than_ten_percent_is_no_taper() -> None:
    assert not failed_taper(series((60, 60), (55, 60), (60, 40)), AS_OF, S).failed


def test_a_supply_gap_is_neither_a_taper_nor_a_return() -> None:
    result = failed_taper(series((60, 60), (0, 10), (60, 60)), AS_OF, S)
    assert not result.failed
    assert result.reason.startswith("No previous taper")


def test_a_short_bump_is_not_the_level_a_taper_is_measured_from() -> None:
    # a post-operative week at 90, back to the usual 60: no taper from 90
    assert not failed_taper(series((60, 60), (90, 7), (60, 60), (90, 40)), AS_OF, S).failed


def test_a_short_dip_is_not_a_taper() -> None:
    assert not failed_taper(series((60, 60), (30, 10), (60, 60)), AS_OF, S).failed


def test_a_draft_back_to_the_previous_level_is_a_failed_taper() -> None:
    held = series((60, 60), (30, 60))
    assert not failed_taper(held, AS_OF, S).failed
    result = failed_taper(held, AS_OF, S, projected_mme=60)
    assert result.failed
    assert "draft order" in result.reason
    assert not failed_taper(held, AS_OF, S, projected_mme=45).failed


def test_float_noise_does_not_split_a_level() -> None:
    noisy = DailySeries(
        AS_OF - timedelta(days=159), [60.0, 60.0000000001] * 30 + [30.0] * 60 + [60.0] * 40
    )
    assert failed_taper(noisy, AS_OF, S).failed


def test_days_after_as_of_are_not_read() -> None:
    values = [60.0] * 60 + [30.0] * 60 + [60.0] * 40
    start = AS_OF - timedelta(days=119)  # the last 40 days lie after AS_OF
    assert not failed_taper(DailySeries(start, values), AS_OF, S).failed
