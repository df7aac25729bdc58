"""D2: ≥21 opioid days in each of the last three 30-day blocks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from rules.derived.ltot import long_term_opioid_therapy
from rules.settings import default_rule_settings

AS_OF = date(2025, 6, 30)
S = default_rule_settings()


def days_per_block(*counts: int) -> dict[date, float]:
    """Opioid on the first ``count`` days (counting back from the block's end) of each block."""
    series: dict[date, float] = {}
    for block, count in enumerate(counts):
        block_end = AS_OF - timedelta(days=30 * block)
        for offset in range(count):
            series[block_end - timedelta(days=offset)] = 30.0
    return series


def test_21_days_in_each_block_is_ltot() -> None:
    result = long_term_opioid_therapy(days_per_block(21, 21, 21), AS_OF, S)
    assert result.ltot
    assert [b.opioid_days for b in result.blocks] == [21, 21, 21]
    assert "21, 21, 21 of 30 days" in result.reason


@pytest.mark.parametrize("short_block", [0, 1, 2])
def test_20_days_in_any_block_is_not_ltot(short_block: int) -> None:
    counts = [30, 30, 30]
    counts[short_block] = 20
    result = long_term_opioid_therapy(days_per_block(*counts), AS_OF, S)
    assert not result.ltot
    assert "only 20 of 30 days" in result.reason
    assert str(result.blocks[short_block].window) in result.reason


def test_blocks_are_most_recent_first_and_contiguous() -> None:
    result = long_term_opioid_therapy({}, AS_OF, S)
    first, second, third = (b.window for b in result.blocks)
    assert first.end == AS_OF
    assert first.days == 30
    assert second.end == first.start - timedelta(days=1)
    assert third.start == AS_OF - timedelta(days=89)


def test_days_before_the_three_blocks_do_not_count() -> None:
    series = days_per_block(30, 30, 20)
    for offset in range(90, 120):
        series[AS_OF - timedelta(days=offset)] = 30.0
    assert not long_term_opioid_therapy(series, AS_OF, S).ltot


def test_zero_mme_days_are_not_opioid_days() -> None:
    series = dict.fromkeys(days_per_block(30, 30, 30), 0.0)
    assert not long_term_opioid_therapy(series, AS_OF, S).ltot
