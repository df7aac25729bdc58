"""Card C's second trigger: a previous taper that did not hold (spec §6.5 card C; tier J).

The spec defines it as "a past recent taper followed by a return to ≥ the previous dose".
Read on maintained dose *levels*, so that supply gaps and short bumps do not make one:

* a **level** is a run of days at the same total MME/day (within rounding), above 0, that
  lasts at least ``failed_taper_min_days``; days with no opioid are gaps or pauses, not a
  reduction, and a week-long post-operative bump is not a level;
* a **taper** is a level below ``recent_taper_ratio`` of the highest level before it (the
  same ratio as D6);
* it **failed** when, after it, the dose is back at or above that earlier level: a later
  level, today's dose however long it has lasted, or the draft of an order hook.

One pass over the daily series: linear in the number of days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from rules.derived.common import DailySeries, DateWindow, at_least, fmt_mme
from rules.settings import RuleSettings

__all__ = ["FailedTaper", "failed_taper"]

_SAME_LEVEL_ABS = 0.05  # MME/day: float noise of the running sum, far below what is shown
_SAME_LEVEL_REL = 0.005


@dataclass(frozen=True, slots=True)
class FailedTaper:
    """Whether a previous taper was followed by a return to the dose it started from."""

    failed: bool
    reason: str
    peak: DateWindow | None = None  # the level tapered from
    peak_mme: float | None = None
    taper: DateWindow | None = None  # the lowest level of the taper
    taper_mme: float | None = None
    returned_on: date | None = None  # first day back at or above the peak level


@dataclass(frozen=True, slots=True)
class _Level:
    first: int  # day offsets in the series, inclusive
    last: int
    mme: float

    @property
    def days(self) -> int:
        return self.last - self.first + 1


def _runs(values: tuple[float, ...]) -> list[_Level]:
    runs: list[_Level] = []
    start = 0
    for i in range(1, len(values) + 1):
        if i < len(values):
            level = values[start]
            if abs(values[i] - level) <= max(_SAME_LEVEL_ABS, _SAME_LEVEL_REL * level):
                continue
        if values[start] > _SAME_LEVEL_ABS:
            runs.append(_Level(start, i - 1, values[start]))
        start = i
    return runs


def _window(start: date, level: _Level) -> DateWindow:
    return DateWindow(start + timedelta(days=level.first), start + timedelta(days=level.last))


def failed_taper(
    daily: DailySeries,
    as_of: date,
    settings: RuleSettings,
    *,
    projected_mme: float | None = None,
) -> FailedTaper:
    """The first taper in ``daily`` (up to ``as_of``) that was followed by a return."""
    values = daily.by_offset[: max(0, daily.offset(as_of) + 1)]
    min_days = settings.failed_taper_min_days
    ratio = settings.recent_taper_ratio
    today = len(values) - 1
    peak: _Level | None = None
    taper: tuple[_Level, _Level] | None = None  # (the taper's lowest level, its peak)
    for run in _runs(values):
        maintained = run.days >= min_days or run.last == today
        if taper is not None and maintained and at_least(run.mme, taper[1].mme):
            return _failed(taper, daily.start, daily.start + timedelta(days=run.first))
        if run.days < min_days:
            continue
        if peak is None or run.mme > peak.mme:
            peak = run
        elif not at_least(run.mme, ratio * peak.mme) and (taper is None or run.mme < taper[0].mme):
            taper = (run, peak)
    if taper is not None and projected_mme is not None and at_least(projected_mme, taper[1].mme):
        return _failed(taper, daily.start, as_of, by_draft=True)
    if taper is None:
        return FailedTaper(
            False,
            f"No previous taper: no dose held for {min_days} days or more fell below "
            f"{ratio * 100:g}% of an earlier one.",
        )
    low, high = taper
    return FailedTaper(
        False,
        f"A previous taper held: {_tapered(daily.start, taper)}, and the dose has not "
        f"returned to {fmt_mme(high.mme)}.",
        peak=_window(daily.start, high),
        peak_mme=high.mme,
        taper=_window(daily.start, low),
        taper_mme=low.mme,
    )


def _tapered(start: date, taper: tuple[_Level, _Level]) -> str:
    low, high = taper
    return (
        f"{fmt_mme(high.mme)} ({_window(start, high)}) was reduced to "
        f"{fmt_mme(low.mme)} ({_window(start, low)})"
    )


def _failed(
    taper: tuple[_Level, _Level], start: date, returned_on: date, *, by_draft: bool = False
) -> FailedTaper:
    low, high = taper
    back = (
        f"the draft order brings the dose back to {fmt_mme(high.mme)} or more"
        if by_draft
        else f"the dose was back at {fmt_mme(high.mme)} or more from {returned_on.isoformat()}"
    )
    return FailedTaper(
        True,
        f"A previous taper did not hold: {_tapered(start, taper)}; {back}.",
        peak=_window(start, high),
        peak_mme=high.mme,
        taper=_window(start, low),
        taper_mme=low.mme,
        returned_on=returned_on,
    )
