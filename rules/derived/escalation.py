"""D3: opioid dose escalation: titration steps, anchor t0, baseline, current, flags.

``escalated`` follows Hayes 2020 (escalator = >20% rise in average daily MME between
consecutive 6-month windows; escalators had higher pain and more harm) [R26, R27] plus
an absolute floor of 10 MME/day so that 5→7.5 does not fire (J). ``repeated`` (≥2
upward steps in 180 days) captures step-wise escalation without benefit, the main
clinical flag [R18] and CDC's "incremental benefit from previous increases" [R2].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from rules.derived.common import REL_TOL, DailySeries, DateWindow, at_least, fmt_mme
from rules.settings import RuleSettings
from rules.units import MmePerDay

__all__ = ["Escalation", "EscalationStep", "assess_escalation", "escalation_steps"]


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """An upward titration step on ``day``.

    ``before_mme`` is the median (or mean, per ``step_prior_statistic``) of the previous
    7 days, ``after_mme`` the dose on the
    step day, ``sustained_mme`` the median of the 7 days from the step day (fewer when
    as_of is nearer), which must still meet the step rule: a median, so that a one-day
    spike fails and a one-day gap between fills does not.
    """

    day: date
    before_mme: MmePerDay
    after_mme: MmePerDay
    sustained_mme: MmePerDay


def _meets_step(value: float, before: float, settings: RuleSettings) -> bool:
    return (
        value > 0
        and at_least(value, before * (1 + settings.step_min_ratio))
        and at_least(value - before, settings.step_min_abs_mme)
    )


def _window_median(values: list[float]) -> float:
    """:func:`rules.stats.median` of a non-empty list, inlined for the per-day loop."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def escalation_steps(
    daily_mme: Mapping[date, float], as_of: date, settings: RuleSettings
) -> tuple[EscalationStep, ...]:
    """Upward steps within the last ``escalation_window_days``, oldest first.

    A day *qualifies* when its MME/day is ≥10% and ≥1 MME above the previous 7 days'
    median (``step_prior_statistic``; the spec's mean is available, but one day without
    supply or one overlapping fill in those 7 days then creates a false step). One
    increase keeps qualifying for a few days while the 7-day reference
    catches up, so only the first qualifying day of a run of consecutive qualifying
    days is a candidate (the first *sustained* one, when the run starts with a one-day
    spike such as two overlapping fills). A candidate's median dose over its first 7
    days must still meet the step rule (§5.2 "sustained ≥7 days"); a candidate less than
    ``step_merge_days`` after the previous step's day is merged into it.

    Linear in the window: the days are read once into a list indexed by day offset, and
    each day's 7-day reference is a slice of it (``daily_mme`` may be a
    :class:`~rules.derived.common.DailySeries`, which is not copied per day).
    """
    window = DateWindow.last_days(as_of, settings.escalation_window_days)
    k = settings.step_prior_days
    sustain = settings.step_sustain_days
    merge = settings.step_merge_days
    # values[i] is the MME/day on origin + i: the k days before the day preceding the
    # window, that day, then the window itself (which ends on as_of).
    origin = window.start - timedelta(days=k + 1)
    values = DailySeries.of(daily_mme).between(origin, as_of)
    last = len(values) - 1
    # refs[i - k]: the reference (k-day median or mean) of the days before values[i];
    # the same arithmetic as rules.stats.median / mean_over, inlined for the day loop.
    mid = k // 2
    ends = range(k, last + 1)
    if settings.step_prior_statistic == "mean":
        refs = [sum(values[i - k : i]) / k for i in ends]
    elif k % 2:
        refs = [float(sorted(values[i - k : i])[mid]) for i in ends]
    else:
        refs = [(o[mid - 1] + o[mid]) / 2.0 for o in (sorted(values[i - k : i]) for i in ends)]
    # _meets_step per day, inlined: value − ref ≥ floor (cheapest, and false on every
    # day of a steady dose), value > 0 and value ≥ ref × (1 + ratio), each "≥" as
    # at_least (tolerant of float noise).
    ratio = 1 + settings.step_min_ratio
    floor = settings.step_min_abs_mme
    floor_bound = floor - REL_TOL * max(1.0, abs(floor))
    qualifying = [
        value - ref >= floor_bound
        and value > 0
        and value >= (need := ref * ratio) - REL_TOL * max(1.0, abs(need))
        for value, ref in zip(values[k:], refs, strict=True)
    ]

    steps: list[EscalationStep] = []
    step_offsets: list[int] = []
    # A run already going on before the window belongs to an earlier increase.
    in_run = run_has_step = qualifying[0]
    for i in range(k + 1, last + 1):
        if not qualifying[i - k]:
            in_run = run_has_step = False
            continue
        if in_run and run_has_step:
            continue  # the 7-day mean catching up with an increase already counted
        in_run = True
        prior = refs[i - k]
        sustained = _window_median(values[i : min(i + sustain - 1, last) + 1])
        if not _meets_step(sustained, prior, settings):
            continue  # a one-day spike is not a titration
        run_has_step = True
        if step_offsets and i - step_offsets[-1] < merge:
            continue
        step_offsets.append(i)
        day = origin + timedelta(days=i)
        value = float(values[i])
        steps.append(EscalationStep(day, MmePerDay(prior), MmePerDay(value), MmePerDay(sustained)))
    return tuple(steps)


@dataclass(frozen=True, slots=True)
class Escalation:
    """Escalation judged as of one day (spec §6.3 D3).

    ``anchor`` is t0, the first step in the window, or as_of − 90 when there is no step
    (the end of the Hayes-style fallback baseline); the pain change is anchored on it.
    ``ratio`` is None when the baseline is 0. ``increase_mme`` may be negative.
    ``current_source`` says whether ``current_mme`` is the mean of the last 14 days or
    the projected total including the draft order (order hooks).
    """

    steps: tuple[EscalationStep, ...]
    anchor: date
    anchor_source: Literal["first_step", "no_step_fallback"]
    baseline_window: DateWindow
    baseline_mme: MmePerDay
    current_window: DateWindow
    current_mme: MmePerDay
    current_source: Literal["recent_mean", "projected_with_draft"]
    ratio: float | None
    increase_mme: float
    escalated: bool
    repeated: bool
    escalated_reason: str
    repeated_reason: str

    @property
    def reason(self) -> str:
        """Both sentences, escalated first."""
        return f"{self.escalated_reason} {self.repeated_reason}"


def assess_escalation(
    daily_mme: Mapping[date, float],
    as_of: date,
    settings: RuleSettings,
    *,
    projected_mme: float | None = None,
    steps: tuple[EscalationStep, ...] | None = None,
) -> Escalation:
    """Steps, baseline, current and the ``escalated``/``repeated`` flags.

    ``projected_mme`` is the MME engine's projected total including the draft order
    (order-select/order-sign); when given it is the current dose, otherwise the mean
    of the last ``current_window_days`` is. ``steps``, when given, must be
    :func:`escalation_steps` of the same series, ``as_of`` and settings (the history and
    the with-draft judgements share them).
    """
    series = DailySeries.of(daily_mme)
    if steps is None:
        steps = escalation_steps(series, as_of, settings)
    if steps:
        anchor = steps[0].day
        anchor_source: Literal["first_step", "no_step_fallback"] = "first_step"
        baseline_w = DateWindow.ending_before(anchor, settings.baseline_window_days)
        baseline_desc = f"mean of the {baseline_w.days} days before the increase on {anchor}"
    else:
        anchor = as_of - timedelta(days=settings.baseline_fallback_end_days)
        anchor_source = "no_step_fallback"
        baseline_w = DateWindow(
            as_of - timedelta(days=settings.baseline_fallback_start_days),
            anchor - timedelta(days=1),
        )
        baseline_desc = f"mean of {baseline_w}, no single step found"
    baseline = series.mean(baseline_w)
    current_w = DateWindow.last_days(as_of, settings.current_window_days)
    if projected_mme is None:
        current = series.mean(current_w)
        current_source: Literal["recent_mean", "projected_with_draft"] = "recent_mean"
        current_desc = f"mean of the last {current_w.days} days"
    else:
        current = float(projected_mme)
        current_source = "projected_with_draft"
        current_desc = "projected with the draft order"
    increase = current - baseline
    ratio = current / baseline if baseline > 0 else None
    need_ratio, floor = settings.escalation_ratio, settings.escalation_abs_floor_mme
    ratio_ok = ratio is None or at_least(ratio, need_ratio)
    floor_ok = at_least(increase, floor)
    escalated = ratio_ok and floor_ok
    rule = f"≥{need_ratio:g}× and ≥+{floor:g} MME/day"
    change = f"{fmt_mme(baseline)} ({baseline_desc}) to {fmt_mme(current)} ({current_desc})"
    ratio_txt = f"×{ratio:.2f}, " if ratio is not None else "from no opioid, "
    if escalated:
        escalated_reason = (
            f"Dose escalated: {change}, {ratio_txt}+{increase:.1f} MME/day, meeting the "
            f"{rule} rule."
        )
    else:
        failed = []
        if not ratio_ok:
            failed.append(f"below ×{need_ratio:g}")
        if not floor_ok:
            failed.append(f"less than +{floor:g} MME/day")
        escalated_reason = (
            f"Not escalated: {change}, {ratio_txt}{increase:+.1f} MME/day, "
            f"{' and '.join(failed)} (rule {rule})."
        )
    need_steps = settings.repeated_steps
    repeated = len(steps) >= need_steps
    step_rule = (
        f"≥{settings.step_min_ratio * 100:g}% and ≥{settings.step_min_abs_mme:g} MME/day over "
        f"the previous {settings.step_prior_days}-day {settings.step_prior_statistic}"
    )
    days_txt = ", ".join(
        f"{s.day} ({fmt_mme(s.before_mme.value)} → {fmt_mme(s.sustained_mme.value)})" for s in steps
    )
    window_days = settings.escalation_window_days
    if repeated:
        repeated_reason = (
            f"Repeated escalation: {len(steps)} dose increases ({step_rule}) in the last "
            f"{window_days} days, on {days_txt}."
        )
    elif steps:
        repeated_reason = (
            f"Not repeated: 1 dose increase ({step_rule}) in the last {window_days} days, "
            f"on {days_txt}; {need_steps} needed."
        )
    else:
        repeated_reason = (
            f"Not repeated: no dose increase ({step_rule}) in the last {window_days} days."
        )
    return Escalation(
        steps=steps,
        anchor=anchor,
        anchor_source=anchor_source,
        baseline_window=baseline_w,
        baseline_mme=MmePerDay(baseline),
        current_window=current_w,
        current_mme=MmePerDay(current),
        current_source=current_source,
        ratio=ratio,
        increase_mme=increase,
        escalated=escalated,
        repeated=repeated,
        escalated_reason=escalated_reason,
        repeated_reason=repeated_reason,
    )
