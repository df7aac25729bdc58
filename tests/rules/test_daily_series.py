"""The day-offset series behind D2/D3/D6 and the linear-time escalation steps, against
the straightforward per-day implementations they replaced (kept here as oracles)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.derived.common import DailySeries, DateWindow, at_least, mean_over
from rules.derived.escalation import (
    EscalationStep,
    _meets_step,
    assess_escalation,
    escalation_steps,
)
from rules.derived.ltot import long_term_opioid_therapy
from rules.derived.taper import recent_taper
from rules.settings import RuleSettings, default_rule_settings
from rules.stats import median
from rules.units import MmePerDay

AS_OF = date(2025, 6, 30)
S = default_rule_settings()


def _mean_over_dict(series: dict[date, float], window: DateWindow) -> float:
    if window.days == 0:
        return 0.0
    return sum(series.get(day, 0.0) for day in window.iter_days()) / window.days


def reference_steps(
    daily_mme: dict[date, float], as_of: date, settings: RuleSettings
) -> tuple[EscalationStep, ...]:
    """The former implementation: a fresh 7-day window per day (quadratic-ish, slow)."""
    window = DateWindow.last_days(as_of, settings.escalation_window_days)

    def before(day: date) -> float:
        prior = DateWindow.ending_before(day, settings.step_prior_days)
        if settings.step_prior_statistic == "mean":
            return _mean_over_dict(daily_mme, prior)
        return median([daily_mme.get(d, 0.0) for d in prior.iter_days()])

    def qualifies(day: date) -> bool:
        return _meets_step(daily_mme.get(day, 0.0), before(day), settings)

    steps: list[EscalationStep] = []
    in_run = run_has_step = qualifies(window.start - timedelta(days=1))
    for day in window.iter_days():
        if not qualifies(day):
            in_run = run_has_step = False
            continue
        if in_run and run_has_step:
            continue
        in_run = True
        prior = before(day)
        sustain_end = min(day + timedelta(days=settings.step_sustain_days - 1), as_of)
        sustained = median(
            [daily_mme.get(d, 0.0) for d in DateWindow(day, sustain_end).iter_days()]
        )
        if not _meets_step(sustained, prior, settings):
            continue
        run_has_step = True
        if steps and (day - steps[-1].day).days < settings.step_merge_days:
            continue
        value = float(daily_mme.get(day, 0.0))
        steps.append(EscalationStep(day, MmePerDay(prior), MmePerDay(value), MmePerDay(sustained)))
    return tuple(steps)


# Doses as clinicians titrate them (steps, spikes, gaps), over a history that may start
# after the escalation window does or end before as_of.
dose = st.sampled_from([0.0, 0.0, 5.0, 7.5, 10.0, 20.0, 22.5, 30.0, 45.0, 60.0, 90.0, 120.0])
runs = st.lists(st.tuples(st.integers(1, 40), dose), min_size=1, max_size=30)
SETTINGS = [
    S,
    S.with_overrides(step_prior_statistic="mean"),
    S.with_overrides(step_prior_days=4, step_sustain_days=3, step_merge_days=1),
    S.with_overrides(escalation_window_days=400, step_sustain_days=1),
]


def build(first_offset: int, pattern: list[tuple[int, float]]) -> dict[date, float]:
    """Runs of constant dose from ``as_of − first_offset`` on (days after as_of dropped)."""
    series: dict[date, float] = {}
    day = AS_OF - timedelta(days=first_offset)
    for length, value in pattern:
        for _ in range(length):
            if day <= AS_OF:
                series[day] = value
            day += timedelta(days=1)
    return series


@settings(max_examples=150, deadline=None)
@given(first_offset=st.integers(0, 420), pattern=runs, which=st.integers(0, len(SETTINGS) - 1))
def test_escalation_steps_match_the_per_day_reference(
    first_offset: int, pattern: list[tuple[int, float]], which: int
) -> None:
    rules = SETTINGS[which]
    series = build(first_offset, pattern)
    expected = reference_steps(series, AS_OF, rules)
    assert escalation_steps(series, AS_OF, rules) == expected
    assert escalation_steps(DailySeries.of(series), AS_OF, rules) == expected


@settings(max_examples=100, deadline=None)
@given(first_offset=st.integers(0, 420), pattern=runs)
def test_windows_means_and_blocks_equal_on_dict_and_series(
    first_offset: int, pattern: list[tuple[int, float]]
) -> None:
    as_dict = build(first_offset, pattern)
    as_series = DailySeries.of(as_dict)
    for window in (
        DateWindow.last_days(AS_OF, 14),
        DateWindow.ending_before(AS_OF - timedelta(days=40), 30),
        DateWindow(AS_OF - timedelta(days=500), AS_OF + timedelta(days=3)),
        DateWindow(AS_OF, AS_OF - timedelta(days=1)),
    ):
        assert mean_over(as_series, window) == _mean_over_dict(as_dict, window)
    with_steps = assess_escalation(as_dict, AS_OF, S, projected_mme=50)
    assert assess_escalation(as_series, AS_OF, S, projected_mme=50) == with_steps
    assert (
        assess_escalation(as_series, AS_OF, S, projected_mme=50, steps=with_steps.steps)
        == with_steps
    )
    assert recent_taper(as_series, AS_OF, S) == recent_taper(as_dict, AS_OF, S)
    ltot = long_term_opioid_therapy(as_series, AS_OF, S)
    assert ltot == long_term_opioid_therapy(as_dict, AS_OF, S)
    for block in ltot.blocks:
        days = block.window.iter_days()
        assert block.opioid_days == sum(1 for d in days if as_dict.get(d, 0.0) > 0)


def test_between_pads_days_outside_the_series_with_zero() -> None:
    start = date(2025, 1, 10)
    series = DailySeries(start, [1.0, 2.0, 3.0])

    def day(offset: int) -> date:
        return start + timedelta(days=offset)

    assert series.between(day(0), day(2)) == [1.0, 2.0, 3.0]
    assert series.between(day(-2), day(0)) == [0.0, 0.0, 1.0]
    assert series.between(day(2), day(4)) == [3.0, 0.0, 0.0]
    assert series.between(day(-1), day(3)) == [0.0, 1.0, 2.0, 3.0, 0.0]
    assert series.between(day(-5), day(-3)) == [0.0, 0.0, 0.0]
    assert series.between(day(6), day(7)) == [0.0, 0.0]
    assert series.between(day(2), day(1)) == []
    assert DailySeries(start, []).between(day(-1), day(1)) == [0.0, 0.0, 0.0]


def test_daily_series_is_a_read_only_mapping_of_its_days() -> None:
    start = date(2025, 1, 10)
    series = DailySeries(start, [1.0, 0.0, 3.0])
    as_dict = {start: 1.0, start + timedelta(days=1): 0.0, start + timedelta(days=2): 3.0}
    assert dict(series) == as_dict
    assert series == as_dict
    assert len(series) == 3
    assert series.get(start - timedelta(days=1)) is None
    assert series.get(start + timedelta(days=3), 0.0) == 0.0
    assert "2025-01-10" not in series
    assert series.offset(start + timedelta(days=2)) == 2
    with pytest.raises(KeyError):
        series[start + timedelta(days=5)]
    sparse = DailySeries.of({start: 4.0, start + timedelta(days=3): 6.0})
    assert sparse.by_offset == (4.0, 0.0, 0.0, 6.0)
    assert list(series.values()) == [1.0, 0.0, 3.0]
    assert DailySeries.of(series) is series
    assert len(DailySeries.of({})) == 0


def test_escalation_steps_read_each_day_a_bounded_number_of_times() -> None:
    """Linear in the window: a 20-year history costs no more than a 1-year one."""
    reads = 0

    class Counting(DailySeries):
        __slots__ = ()

        def between(self, first: date, last: date) -> list[float]:
            nonlocal reads
            values = super().between(first, last)
            reads += len(values)
            return values

    for years in (1, 20):
        reads = 0
        days = 365 * years
        values = [float(30 + 10 * ((i // 40) % 3)) for i in range(days)]
        series = Counting(AS_OF - timedelta(days=days - 1), values)
        assert escalation_steps(series, AS_OF, S) == reference_steps(dict(series), AS_OF, S)
        assert reads == S.escalation_window_days + S.step_prior_days + 1


def test_at_least_tolerance_is_kept_in_the_inlined_step_rule() -> None:
    # 1.1 × 50 = 55.00000000000001: a rise to exactly 55 is a 10% step.
    series = {AS_OF - timedelta(days=d): (55.0 if d < 30 else 50.0) for d in range(200)}
    steps = escalation_steps(series, AS_OF, S)
    assert [s.day for s in steps] == [AS_OF - timedelta(days=29)]
    assert at_least(55.0, 50.0 * (1 + S.step_min_ratio))
    assert steps == reference_steps(series, AS_OF, S)
