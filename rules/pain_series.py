"""D4: one pain series from the recorded pain scores.

Only ambulatory scores (scores from ED, inpatient or observation encounters reflect an
acute event, not the chronic-pain course), one instrument per series (instruments are
never pooled: a PEG mean and a momentary NRS are different measures, and the MCIDs of
§4.2 apply within one scale), and the per-day median when a day has several scores, so
that one visit with repeated readings counts once (clinical-rules.md §4.1, §6.3 D4,
§6.7 item 9). PEG is preferred when it has enough scores (§4.1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from rules.derived.common import DateWindow
from rules.settings import CodeLists, RuleSettings, default_code_lists
from rules.stats import median
from rules.timeline import PainInstrument, PainScore

__all__ = ["PainPoint", "PainSeries", "build_pain_series"]

_LABEL = {
    PainInstrument.PEG: "PEG",
    PainInstrument.NRS: "NRS",
    PainInstrument.FACES: "Wong-Baker FACES",
    PainInstrument.PROMIS: "PROMIS",
    PainInstrument.OTHER: "other-scale",
}


def instrument_label(instrument: PainInstrument | None) -> str:
    """How an instrument is named to clinicians ("PEG", "NRS")."""
    return _LABEL[instrument] if instrument is not None else "no instrument"


@dataclass(frozen=True, slots=True)
class PainPoint:
    """One scored day: the median of that day's ``n_scores`` scores."""

    day: date
    value: float
    n_scores: int


@dataclass(frozen=True, slots=True)
class PainSeries:
    """The pain series of one instrument, oldest day first.

    ``selection`` says how the instrument was chosen: ``preferred`` (first in the
    preference and enough scores), ``fallback`` (an earlier instrument had too few),
    ``insufficient`` (none had enough; the one with most days is kept so the shortfall
    can be explained) or ``none`` (no usable score). ``days_by_instrument`` counts
    ambulatory scored days per instrument before selection; ``dropped_non_ambulatory``
    and ``dropped_unusable`` count scores left out (setting; value outside 0–10 or an
    interference item).
    """

    instrument: PainInstrument | None
    points: tuple[PainPoint, ...]
    selection: Literal["preferred", "fallback", "insufficient", "none"]
    days_by_instrument: tuple[tuple[PainInstrument, int], ...]
    dropped_non_ambulatory: int
    dropped_unusable: int
    reason: str

    @property
    def label(self) -> str:
        return instrument_label(self.instrument)

    def in_window(self, window: DateWindow) -> tuple[PainPoint, ...]:
        """The points whose day falls inside ``window`` (inclusive)."""
        first, last = window.start, window.end
        return tuple(p for p in self.points if first <= p.day <= last)

    def days_for(self, instrument: PainInstrument) -> int:
        return dict(self.days_by_instrument).get(instrument, 0)


def _usable(score: PainScore, codes: CodeLists) -> bool:
    if score.code in codes.pain_codes.interference:
        return False
    return math.isfinite(score.value) and 0.0 <= score.value <= 10.0


def _points(scores: list[PainScore], peg_mean: str) -> tuple[PainPoint, ...]:
    by_day: dict[date, list[PainScore]] = defaultdict(list)
    for score in scores:
        by_day[score.day].append(score)
    points = []
    for day in sorted(by_day):
        todays = by_day[day]
        # PEG mean (91147-9) and PEG item 1 (75893-8) on one day: the mean is the PEG.
        means = [s for s in todays if s.code == peg_mean]
        chosen = means or todays
        points.append(PainPoint(day, median([s.value for s in chosen]), len(chosen)))
    return tuple(points)


def build_pain_series(
    scores: Iterable[PainScore],
    settings: RuleSettings,
    *,
    window: DateWindow | None = None,
    sufficient: Callable[[tuple[PainPoint, ...]], bool] | None = None,
    codes: CodeLists | None = None,
) -> PainSeries:
    """Choose one instrument and build its per-day series, within ``window`` if given.

    ``sufficient`` decides whether an instrument has enough scores (D5 passes "≥2
    scored days in each window"); by default ``min_scores_for_slope`` scored days.
    Instruments are tried in ``settings.pain_instrument_preference`` order (PEG, NRS);
    others (FACES, PROMIS) are counted but never trended.
    """
    lists = codes or default_code_lists()
    excluded = frozenset(settings.non_ambulatory_encounter_classes)
    need = settings.min_scores_for_slope
    enough = sufficient or (lambda pts: len(pts) >= need)
    dropped_setting = dropped_unusable = 0
    by_instrument: dict[PainInstrument, list[PainScore]] = defaultdict(list)
    interference = lists.pain_codes.interference
    isfinite = math.isfinite
    if window is not None:
        first, last = window.start, window.end
        scores = [s for s in scores if first <= s.day <= last]  # ``s.day in window``
    for score in scores:
        if score.encounter_class and score.encounter_class.strip().upper() in excluded:
            dropped_setting += 1
        elif score.code in interference or not (  # not _usable(score, lists)
            isfinite(score.value) and 0.0 <= score.value <= 10.0
        ):
            dropped_unusable += 1
        else:
            by_instrument[score.instrument].append(score)
    series = {
        inst: _points(found, lists.pain_codes.peg_mean) for inst, found in by_instrument.items()
    }
    days = tuple((inst, len(pts)) for inst, pts in sorted(series.items()))
    preference = settings.pain_instrument_preference
    notes = []
    if dropped_setting:
        notes.append(f"{dropped_setting} ED/inpatient score(s) left out")
    ignored = sorted((i for i in series if i not in preference), key=str)
    if ignored:
        notes.append(
            ", ".join(f"{len(series[i])} {instrument_label(i)} day(s)" for i in ignored)
            + " not trended"
        )
    suffix = f" ({'; '.join(notes)})" if notes else ""
    too_few: list[str] = []
    for rank, inst in enumerate(preference):
        pts = series.get(inst, ())
        if pts and enough(pts):
            if rank == 0:
                selection: Literal["preferred", "fallback", "insufficient", "none"] = "preferred"
                reason = (
                    f"{instrument_label(inst)} used: the preferred instrument, with "
                    f"{len(pts)} ambulatory scored day(s){suffix}."
                )
            else:
                selection = "fallback"
                reason = (
                    f"{instrument_label(inst)} used ({len(pts)} ambulatory scored day(s)) because "
                    f"{' and '.join(too_few)} had too few; instruments are never pooled{suffix}."
                )
            return PainSeries(inst, pts, selection, days, dropped_setting, dropped_unusable, reason)
        too_few.append(f"{instrument_label(inst)} ({len(pts)} scored day(s))")
    candidates = [i for i in preference if series.get(i)]
    if candidates:
        best = max(candidates, key=lambda i: len(series[i]))  # first on ties: preference order
        pts = series[best]
        reason = (
            f"Not enough ambulatory pain scores in any instrument: "
            f"{', '.join(too_few)}; {instrument_label(best)} shown{suffix}."
        )
        return PainSeries(
            best, pts, "insufficient", days, dropped_setting, dropped_unusable, reason
        )
    names = " or ".join(instrument_label(i) for i in preference)
    reason = f"No ambulatory {names} pain scores recorded{suffix}."
    return PainSeries(None, (), "none", days, dropped_setting, dropped_unusable, reason)
