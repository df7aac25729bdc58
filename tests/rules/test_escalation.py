"""D3: titration steps, anchor, baseline, current, ``escalated`` and ``repeated``."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from rules.derived.escalation import assess_escalation, escalation_steps
from rules.settings import default_rule_settings

AS_OF = date(2025, 6, 30)
S = default_rule_settings()


def ago(days: int) -> date:
    return AS_OF - timedelta(days=days)


def levels(start: float, *changes: tuple[int, float]) -> dict[date, float]:
    """365 days at ``start`` MME/day; each (days_ago, value) holds from that day to as_of."""
    series = {ago(d): start for d in range(365)}
    for days_ago, value in sorted(changes, reverse=True):
        for d in range(days_ago + 1):
            series[ago(d)] = value
    return series


# ---- escalated: ratio and absolute floor ------------------------------------------


def test_ratio_1_20_escalated_but_1_19_not() -> None:
    flat = levels(100)
    at_120 = assess_escalation(flat, AS_OF, S, projected_mme=120)
    at_119 = assess_escalation(flat, AS_OF, S, projected_mme=119)
    assert at_120.escalated
    assert at_120.ratio == pytest.approx(1.2)
    assert not at_119.escalated
    assert "below ×1.2" in at_119.escalated_reason
    assert at_120.current_source == "projected_with_draft"


def test_ratio_boundary_with_a_step_in_the_history() -> None:
    assert assess_escalation(levels(100, (40, 120)), AS_OF, S).escalated
    result = assess_escalation(levels(100, (40, 119)), AS_OF, S)
    assert result.steps
    assert not result.escalated


def test_floor_10_mme_escalated_but_9_not() -> None:
    flat = levels(40)
    assert assess_escalation(flat, AS_OF, S, projected_mme=50).escalated
    nine = assess_escalation(flat, AS_OF, S, projected_mme=49)
    assert not nine.escalated  # ×1.225 passes, +9 fails
    assert "less than +10 MME/day" in nine.escalated_reason
    assert "below ×" not in nine.escalated_reason


def test_float_noise_does_not_flip_the_ratio_boundary() -> None:
    # 1.2 × 35 = 42.00000000000001 in binary floating point
    assert assess_escalation(levels(35), AS_OF, S, projected_mme=45).escalated
    assert assess_escalation(levels(50), AS_OF, S, projected_mme=60).escalated


def test_start_from_no_opioid() -> None:
    result = assess_escalation(levels(0), AS_OF, S, projected_mme=15)
    assert result.escalated
    assert result.ratio is None
    assert "from no opioid" in result.escalated_reason


def test_reason_carries_the_numbers() -> None:
    result = assess_escalation(levels(40, (60, 90)), AS_OF, S)
    assert result.escalated
    assert result.baseline_mme.value == 40
    assert result.current_mme.value == 90
    assert "40 MME/day" in result.escalated_reason
    assert "90 MME/day" in result.escalated_reason
    assert f"increase on {ago(60)}" in result.escalated_reason


# ---- anchor and baseline ------------------------------------------------------------


def test_anchor_is_the_first_step_and_baseline_the_30_days_before() -> None:
    result = assess_escalation(levels(40, (100, 60), (50, 80)), AS_OF, S)
    assert result.anchor == ago(100)
    assert result.anchor_source == "first_step"
    assert result.baseline_window.start == ago(130)
    assert result.baseline_window.end == ago(101)
    assert result.baseline_mme.value == 40
    assert result.current_window.start == ago(13)
    assert result.current_mme.value == 80


def test_no_step_falls_back_to_hayes_windows() -> None:
    # A slow creep: +1% a day never makes a ≥10% step but adds up.
    series = {ago(d): 40.0 * (1.01 ** max(0, 150 - d)) for d in range(365)}
    result = assess_escalation(series, AS_OF, S)
    assert result.steps == ()
    assert result.anchor == ago(90)
    assert result.anchor_source == "no_step_fallback"
    assert result.baseline_window.start == ago(180)
    assert result.baseline_window.end == ago(91)
    assert result.escalated
    assert "no single step found" in result.escalated_reason


def test_current_is_last_14_days_mean() -> None:
    result = assess_escalation(levels(30, (6, 100)), AS_OF, S)
    assert result.current_mme.value == pytest.approx((7 * 30 + 7 * 100) / 14)
    assert result.current_source == "recent_mean"


# ---- steps ------------------------------------------------------------------------


def test_one_increase_is_one_step_with_its_numbers() -> None:
    (step,) = escalation_steps(levels(40, (60, 60)), AS_OF, S)
    assert step.day == ago(60)
    assert step.before_mme.value == 40
    assert step.after_mme.value == 60
    assert step.sustained_mme.value == 60


def test_step_of_10_percent_counts_but_9_percent_does_not() -> None:
    assert len(escalation_steps(levels(50, (60, 55)), AS_OF, S)) == 1
    assert escalation_steps(levels(50, (60, 54.5)), AS_OF, S) == ()


def test_step_of_1_mme_counts_but_0_9_does_not() -> None:
    assert len(escalation_steps(levels(5, (60, 6)), AS_OF, S)) == 1
    assert escalation_steps(levels(5, (60, 5.9)), AS_OF, S) == ()


def test_two_increases_7_days_apart_are_two_steps() -> None:
    steps = escalation_steps(levels(40, (60, 50), (53, 60)), AS_OF, S)
    assert [s.day for s in steps] == [ago(60), ago(53)]


def test_two_increases_6_days_apart_merge_into_one_step() -> None:
    steps = escalation_steps(levels(40, (60, 50), (54, 60)), AS_OF, S)
    assert [s.day for s in steps] == [ago(60)]


def test_large_increase_is_not_counted_twice_while_the_mean_catches_up() -> None:
    assert len(escalation_steps(levels(20, (60, 200)), AS_OF, S)) == 1


def test_one_day_spike_is_not_a_step() -> None:
    series = levels(40)
    series[ago(50)] = 80.0
    assert escalation_steps(series, AS_OF, S) == ()


def test_spike_followed_by_a_real_increase_is_one_step() -> None:
    series = levels(40, (47, 60))
    series[ago(50)] = 80.0
    (step,) = escalation_steps(series, AS_OF, S)
    assert ago(50) <= step.day <= ago(47)
    assert step.sustained_mme.value == 60


def test_one_day_gap_between_fills_does_not_undo_a_step() -> None:
    series = levels(40, (60, 60))
    series[ago(57)] = 0.0
    assert [s.day for s in escalation_steps(series, AS_OF, S)] == [ago(60)]


def test_steps_older_than_180_days_are_ignored() -> None:
    assert escalation_steps(levels(40, (200, 60)), AS_OF, S) == ()
    assert len(escalation_steps(levels(40, (179, 60)), AS_OF, S)) == 1


def test_tail_of_an_increase_before_the_window_is_not_a_step() -> None:
    # increase on day −181: days −180.. still 'qualify' against the 7-day mean
    assert escalation_steps(levels(20, (181, 200)), AS_OF, S) == ()


def test_recent_increase_is_judged_on_the_days_available() -> None:
    (step,) = escalation_steps(levels(40, (2, 60)), AS_OF, S)
    assert step.day == ago(2)


# ---- repeated -----------------------------------------------------------------------


def test_two_steps_are_repeated_one_is_not() -> None:
    two = assess_escalation(levels(40, (120, 50), (60, 60)), AS_OF, S)
    one = assess_escalation(levels(40, (60, 60)), AS_OF, S)
    assert two.repeated
    assert len(two.steps) == 2
    assert "2 dose increases" in two.repeated_reason
    assert not one.repeated
    assert "1 dose increase" in one.repeated_reason
    assert "2 needed" in one.repeated_reason


def test_no_step_reason() -> None:
    result = assess_escalation(levels(40), AS_OF, S)
    assert not result.repeated
    assert not result.escalated
    assert result.repeated_reason.startswith("Not repeated: no dose increase")
    assert result.reason.startswith("Not escalated")


def test_one_day_gap_later_in_a_level_is_not_a_new_step() -> None:
    series = levels(40, (60, 60))
    series[ago(50)] = 0.0
    assert [s.day for s in escalation_steps(series, AS_OF, S)] == [ago(60)]
    # the spec's literal 'previous 7-day mean' sees the gap as a new step
    with_mean = S.with_overrides(step_prior_statistic="mean")
    assert [s.day for s in escalation_steps(series, AS_OF, with_mean)] == [ago(60), ago(49)]
