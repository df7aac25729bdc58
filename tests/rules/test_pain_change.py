"""D5: pain change anchored on t0: windows, counts, Δ rules, Theil–Sen gate, no_improvement."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from rules.derived.pain_change import PainChange, assess_pain_change
from rules.settings import RuleSettings, default_rule_settings
from rules.timeline import PainInstrument, PainScore

AS_OF = date(2025, 6, 30)
T0 = AS_OF - timedelta(days=60)  # post window starts at T0 + 14
S = default_rule_settings()


def nrs(day: date, value: float, cls: str | None = "AMB") -> PainScore:
    return PainScore(day, value, PainInstrument.NRS, "72514-3", encounter_class=cls)


def pre(days_before_t0: int, value: float) -> PainScore:
    return nrs(T0 - timedelta(days=days_before_t0), value)


def post(days_after_t0: int, value: float) -> PainScore:
    return nrs(T0 + timedelta(days=days_after_t0), value)


# Only two scores per window: the ≥4-point Theil–Sen gate is switched off to test the
# Δ rules on their own (with the defaults, 2+2 scores always meet the gate's n ≥ 4).
NO_GATE = S.with_overrides(min_scores_for_slope=5)


def assess(*scores: PainScore, settings: RuleSettings = S) -> PainChange:
    return assess_pain_change(scores, T0, AS_OF, settings)


def test_windows() -> None:
    result = assess()
    assert result.pre_window.start == T0 - timedelta(days=90)
    assert result.pre_window.end == T0 - timedelta(days=1)
    assert result.post_window.start == T0 + timedelta(days=14)
    assert result.post_window.end == AS_OF


def test_one_score_in_a_window_is_unknown_two_is_known() -> None:
    one = assess(pre(30, 4), post(20, 8), post(40, 8))
    assert one.rising is None
    assert one.no_improvement is None
    assert "1 scored day(s) in the 90 days before" in one.rising_reason
    assert "(≥2 needed in each)" in one.rising_reason
    two = assess(pre(30, 4), pre(20, 4), post(20, 8), post(40, 8))
    assert two.rising is True


def test_scores_in_the_lag_period_do_not_count_as_post() -> None:
    result = assess(pre(30, 4), pre(20, 4), post(5, 9), post(13, 9), post(20, 9))
    assert result.post_count == 1
    assert result.rising is None


def test_too_soon_after_the_increase_is_unknown() -> None:
    result = assess_pain_change([nrs(AS_OF, 8)], AS_OF - timedelta(days=10), AS_OF, S)
    assert result.post_window.is_empty
    assert result.rising is None
    assert "too soon" in result.rising_reason


def test_no_scores_reason() -> None:
    assert "no ambulatory PEG or NRS" in assess().rising_reason


def test_delta_2_0_rises_but_1_9_does_not_at_high_baseline() -> None:
    # pre median 7: 30% would be 2.1, so only the absolute rule can fire
    assert assess(pre(30, 7), pre(20, 7), post(20, 9), post(40, 9)).rising is True
    low = assess(pre(30, 7), pre(20, 7), post(20, 8.9), post(40, 8.9))
    assert low.rising is False
    assert low.delta == pytest.approx(1.9)
    assert "below +2 points" in low.rising_reason


def test_30_percent_with_at_least_1_point_rises() -> None:
    # pre 3.5 → post 4.55: +1.05 = 30%
    result = assess(pre(30, 3.5), pre(20, 3.5), post(20, 4.55), post(40, 4.55), settings=NO_GATE)
    assert result.relative_change == pytest.approx(0.30)
    assert result.rising is True
    assert "≥30% with ≥1 point" in result.rising_reason


def test_30_percent_under_1_point_does_not_rise() -> None:
    # pre 2 → post 2.8: +40% but only 0.8 points
    result = assess(pre(30, 2), pre(20, 2), post(20, 2.8), post(40, 2.8), settings=NO_GATE)
    assert result.relative_change == pytest.approx(0.4)
    assert result.rising is False


def test_29_percent_does_not_rise() -> None:
    result = assess(pre(30, 4), pre(20, 4), post(20, 5.16), post(40, 5.16), settings=NO_GATE)
    assert result.rising is False


def test_zero_pre_median_uses_only_the_absolute_rule() -> None:
    result = assess(pre(30, 0), pre(20, 0), post(20, 1.5), post(40, 1.5), settings=NO_GATE)
    assert result.relative_change is None
    assert result.rising is False


def test_theil_sen_gate_vetoes_a_relative_rise_with_a_flat_trend() -> None:
    # pre median 4, post median 5.5 (+37.5%), but the overall trend is shallow
    scores = [pre(85, 5), pre(60, 4), pre(30, 4), post(20, 5.5), post(40, 5.5)]
    result = assess(*scores)
    assert result.delta == pytest.approx(1.5)
    assert result.theil_sen_rise is not None
    assert result.theil_sen_rise < 2
    assert result.rising is False
    assert "Theil–Sen" in result.rising_reason


def test_theil_sen_gate_confirms_a_steady_relative_rise() -> None:
    scores = [pre(85, 3), pre(60, 3.5), pre(30, 4), post(20, 5), post(40, 5.5)]
    result = assess(*scores)
    assert result.delta is not None
    assert result.delta < 2
    assert result.theil_sen_rise is not None
    assert result.theil_sen_rise >= 2
    assert result.rising is True


def test_delta_of_2_is_never_gated() -> None:
    scores = [pre(85, 7), pre(60, 3), pre(30, 3), post(20, 5), post(40, 5)]
    result = assess(*scores)
    assert result.delta == pytest.approx(2.0)
    assert result.rising is True


def test_mann_kendall_is_reported_but_never_gates() -> None:
    scores = [pre(85, 5), pre(60, 5), pre(30, 5), post(20, 7), post(40, 7)]
    result = assess(*scores)
    assert result.mann_kendall is not None
    assert result.mann_kendall.s > 0
    assert result.mann_kendall.tau > 0
    assert result.mann_kendall.p_two_sided > 0.05  # not significant, still rising
    assert result.rising is True
    assert result.trend_count == 5
    assert result.span_days == 125


def test_no_improvement_boundary_at_minus_1() -> None:
    improved = assess(pre(30, 6), pre(20, 6), post(20, 5), post(40, 5))
    assert improved.no_improvement is False
    assert "Pain improved" in improved.no_improvement_reason
    barely = assess(pre(30, 6), pre(20, 6), post(20, 5.1), post(40, 5.1))
    assert barely.no_improvement is True
    assert barely.rising is False
    assert "No meaningful improvement" in barely.no_improvement_reason


def test_emergency_scores_are_not_used() -> None:
    scores = [pre(30, 4), pre(20, 4), post(20, 9), nrs(T0 + timedelta(days=30), 9, "EMER")]
    result = assess(*scores)
    assert result.post_count == 1
    assert result.rising is None


def test_reason_names_instrument_numbers_and_dates() -> None:
    result = assess(pre(30, 5), pre(20, 5), post(20, 8), post(40, 8))
    assert result.rising is True
    assert "median NRS 5" in result.rising_reason
    assert "vs 8" in result.rising_reason
    assert str(T0) in result.rising_reason
    assert "+3.0 points" in result.rising_reason


def test_with_the_default_gate_two_plus_two_scores_need_a_theil_sen_rise() -> None:
    result = assess(pre(30, 3.5), pre(20, 3.5), post(20, 4.55), post(40, 4.55))
    assert result.theil_sen_rise is not None
    assert result.theil_sen_rise < 2
    assert result.rising is False
