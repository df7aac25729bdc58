"""D5: pain change anchored on the escalation (three-valued).

Pre window [t0−90, t0), post window [t0+14, as_of]: the 14-day lag allows steady state
and matches CDC Rec 7's re-evaluation 1–4 weeks after an escalation [R1]. Rising means
Δmedian ≥ +2 points, or ≥30% with ≥1 point (Farrar 2001; IMMPACT) [R29, R30]; both are
*improvement* anchors applied symmetrically to worsening (J). With ≥4 scored days the
Theil–Sen rise must confirm a rise that rests on the 30% rule alone (§5.2). Mann–Kendall
S and tau are reported as support only. ``no_improvement`` = improved by <1 point
(IMMPACT minimal change, Hayes) [R26, R30]. With fewer than 2 scored days in either
window both flags are unknown (None) and the reason says what is missing (§6.7 item 9).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from rules.derived.common import DateWindow, at_least, fmt_points
from rules.pain_series import PainPoint, PainSeries, build_pain_series
from rules.settings import CodeLists, RuleSettings
from rules.stats import MannKendall, TheilSen, mann_kendall, median, theil_sen
from rules.timeline import PainInstrument, PainScore

__all__ = ["PainChange", "assess_pain_change"]


@dataclass(frozen=True, slots=True)
class PainChange:
    """Pain before and after the anchor day, with the statistics behind the flags.

    Counts are scored days (per-day medians). ``delta`` = post median − pre median;
    ``relative_change`` = delta / pre median (None when the pre median is 0).
    ``theil_sen_rise`` = Theil–Sen slope (points/day) × ``span_days`` over the trend
    window [t0−90, as_of], computed with ≥ ``min_scores_for_slope`` scored days.
    ``rising`` and ``no_improvement`` are True/False, or None when unknown.
    """

    instrument: PainInstrument | None
    anchor: date
    pre_window: DateWindow
    post_window: DateWindow
    trend_window: DateWindow
    pre_count: int
    post_count: int
    pre_median: float | None
    post_median: float | None
    delta: float | None
    relative_change: float | None
    trend_count: int
    span_days: int | None
    theil_sen: TheilSen | None
    theil_sen_rise: float | None
    mann_kendall: MannKendall | None
    rising: bool | None
    no_improvement: bool | None
    rising_reason: str
    no_improvement_reason: str
    series: PainSeries

    @property
    def reason(self) -> str:
        return self.rising_reason


def _count(points: tuple[PainPoint, ...], window: DateWindow) -> int:
    first, last = window.start, window.end
    return sum(1 for p in points if first <= p.day <= last)


def assess_pain_change(
    scores: Iterable[PainScore],
    anchor: date,
    as_of: date,
    settings: RuleSettings,
    *,
    codes: CodeLists | None = None,
) -> PainChange:
    """Judge whether pain rose (or failed to improve) after the dose increase on ``anchor``.

    ``anchor`` is :attr:`rules.derived.escalation.Escalation.anchor` (the first step, or
    as_of − 90 without one).
    """
    need = settings.min_scores_per_window
    pre_w = DateWindow.ending_before(anchor, settings.pre_window_days)
    post_w = DateWindow(anchor + timedelta(days=settings.steady_state_lag_days), as_of)
    trend_w = DateWindow(pre_w.start, as_of)

    def enough(points: tuple[PainPoint, ...]) -> bool:
        return _count(points, pre_w) >= need and _count(points, post_w) >= need

    series = build_pain_series(scores, settings, window=trend_w, sufficient=enough, codes=codes)
    pre = [p.value for p in series.in_window(pre_w)]
    post = [p.value for p in series.in_window(post_w)]
    trend = series.in_window(trend_w)
    label = series.label
    if post_w.is_empty:
        why = (
            f"Pain trend unknown: too soon after the dose increase on {anchor}; scores count "
            f"from {post_w.start}, {settings.steady_state_lag_days} days later (steady state)."
        )
    elif series.instrument is None:
        why = f"Pain trend unknown: {series.reason[0].lower()}{series.reason[1:]}"
    else:
        why = (
            f"Pain trend unknown: {label} has {len(pre)} scored day(s) in the "
            f"{settings.pre_window_days} days before the dose increase on {anchor} and "
            f"{len(post)} from {post_w.start} to {as_of} (≥{need} needed in each)."
        )
    unknown = PainChange(
        instrument=series.instrument,
        anchor=anchor,
        pre_window=pre_w,
        post_window=post_w,
        trend_window=trend_w,
        pre_count=len(pre),
        post_count=len(post),
        pre_median=median(pre) if pre else None,
        post_median=median(post) if post else None,
        delta=None,
        relative_change=None,
        trend_count=len(trend),
        span_days=None,
        theil_sen=None,
        theil_sen_rise=None,
        mann_kendall=None,
        rising=None,
        no_improvement=None,
        rising_reason=why,
        no_improvement_reason=why.replace("Pain trend unknown", "Benefit unknown", 1),
        series=series,
    )
    if post_w.is_empty or len(pre) < need or len(post) < need:
        return unknown

    pre_med, post_med = median(pre), median(post)
    delta = post_med - pre_med
    rel = delta / pre_med if pre_med > 0 else None
    ts = mk = None
    rise = None
    span = None
    if len(trend) >= settings.min_scores_for_slope:
        xs = [float((p.day - trend_w.start).days) for p in trend]
        ys = [p.value for p in trend]
        ts = theil_sen(xs, ys, max_points=settings.theil_sen_max_points)
        mk = mann_kendall(xs, ys)
        span = (trend[-1].day - trend[0].day).days
        rise = ts.slope * span

    abs_need, rel_need = settings.pain_rise_abs, settings.pain_rise_rel
    rel_min = settings.pain_rise_rel_min_abs
    change = (
        f"median {label} {fmt_points(pre_med)} in the {settings.pre_window_days} days before the "
        f"dose increase on {anchor} ({len(pre)} scored days) vs {fmt_points(post_med)} from "
        f"{post_w.start} ({len(post)} scored days), {delta:+.1f} points"
        + (f" ({rel * 100:+.0f}%)" if rel is not None else "")
    )
    abs_ok = at_least(delta, abs_need)
    rel_ok = rel is not None and at_least(rel, rel_need) and at_least(delta, rel_min)
    rel_rule = f"≥{rel_need * 100:g}% with ≥{rel_min:g} point"
    if abs_ok:
        rising = True
        rising_reason = f"Pain rose: {change}, meeting the ≥+{abs_need:g}-point rule."
    elif rel_ok and rise is not None and not at_least(rise, abs_need):
        rising = False
        rising_reason = (
            f"Pain not clearly rising: {change} meets the {rel_rule} rule, but the Theil–Sen "
            f"trend over {span} days rises only {rise:.1f} points (≥{abs_need:g} needed when "
            f"the change is under {abs_need:g})."
        )
    elif rel_ok:
        trend_txt = (
            f"; Theil–Sen rise {rise:.1f} points over {span} days" if rise is not None else ""
        )
        rising = True
        rising_reason = f"Pain rose: {change}, meeting the {rel_rule} rule{trend_txt}."
    else:
        rising = False
        rising_reason = (
            f"Pain not rising: {change}, below +{abs_need:g} points and below the {rel_rule} rule."
        )

    gain_need = settings.no_improvement_threshold
    improvement = -delta
    no_improvement = not at_least(improvement, gain_need)
    if no_improvement:
        no_improvement_reason = (
            f"No meaningful improvement after the dose increase: {change} "
            f"(an improvement of ≥{gain_need:g} point is meaningful)."
        )
    else:
        no_improvement_reason = (
            f"Pain improved after the dose increase: {change} "
            f"(≥{gain_need:g} point counts as improvement)."
        )
    return replace(
        unknown,
        pre_median=pre_med,
        post_median=post_med,
        delta=delta,
        relative_change=rel,
        span_days=span,
        theil_sen=ts,
        theil_sen_rise=rise,
        mann_kendall=mk,
        rising=rising,
        no_improvement=no_improvement,
        rising_reason=rising_reason,
        no_improvement_reason=no_improvement_reason,
    )
