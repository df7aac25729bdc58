"""D4 pain series: setting filter, instrument choice (never pooled), per-day median."""

from __future__ import annotations

from datetime import date, timedelta

from rules.derived.common import DateWindow
from rules.pain_series import build_pain_series
from rules.settings import default_rule_settings
from rules.timeline import PainInstrument, PainScore

AS_OF = date(2025, 6, 30)
S = default_rule_settings()
PEG, NRS, FACES = PainInstrument.PEG, PainInstrument.NRS, PainInstrument.FACES


def score(
    days_ago: int,
    value: float,
    instrument: PainInstrument = NRS,
    cls: str | None = "AMB",
    code: str | None = None,
) -> PainScore:
    default_code = {PEG: "91147-9", NRS: "72514-3", FACES: "38221-8"}.get(instrument, "x")
    return PainScore(
        day=AS_OF - timedelta(days=days_ago),
        value=value,
        instrument=instrument,
        code=code or default_code,
        encounter_class=cls,
    )


def test_emergency_and_inpatient_scores_are_dropped() -> None:
    scores = [
        score(50, 4),
        score(40, 9, cls="EMER"),
        score(30, 9, cls="imp"),
        score(25, 9, cls="ACUTE"),
        score(22, 9, cls="OBSENC"),
        score(20, 5),
    ]
    series = build_pain_series(scores, S)
    assert [p.value for p in series.points] == [4, 5]
    assert series.dropped_non_ambulatory == 4
    assert "4 ED/inpatient score(s) left out" in series.reason


def test_scores_with_unknown_setting_are_kept() -> None:
    series = build_pain_series([score(10, 6, cls=None), score(5, 7, cls="VR")], S)
    assert [p.value for p in series.points] == [6, 7]


def test_peg_preferred_when_it_has_enough_scores() -> None:
    scores = [score(d, 5, PEG) for d in (80, 60, 40, 20)] + [score(d, 8) for d in range(1, 30)]
    series = build_pain_series(scores, S)
    assert series.instrument is PEG
    assert series.selection == "preferred"
    assert [p.value for p in series.points] == [5, 5, 5, 5]  # NRS never pooled in
    assert series.days_for(NRS) == 29
    assert series.reason.startswith("PEG used: the preferred instrument")


def test_nrs_used_when_peg_has_too_few_and_reason_says_why() -> None:
    scores = [score(80, 5, PEG)] + [score(d, 6) for d in (70, 50, 30, 10)]
    series = build_pain_series(scores, S)
    assert series.instrument is NRS
    assert series.selection == "fallback"
    assert [p.value for p in series.points] == [6, 6, 6, 6]
    assert "PEG (1 scored day(s)) had too few" in series.reason
    assert "never pooled" in series.reason


def test_custom_sufficiency_decides_the_instrument() -> None:
    scores = [score(d, 5, PEG) for d in (80, 60)] + [score(d, 6) for d in (70, 50, 30, 10)]
    assert build_pain_series(scores, S).instrument is NRS
    two_days = build_pain_series(scores, S, sufficient=lambda pts: len(pts) >= 2)
    assert two_days.instrument is PEG


def test_per_day_median_of_several_scores() -> None:
    scores = [score(10, 3), score(10, 8), score(10, 4), score(5, 6), score(5, 7)]
    series = build_pain_series(scores, S, sufficient=lambda pts: True)
    assert [(p.value, p.n_scores) for p in series.points] == [(4, 3), (6.5, 2)]
    assert series.points[0].day < series.points[1].day


def test_peg_mean_wins_over_peg_item1_on_the_same_day() -> None:
    scores = [score(10, 7, PEG, code="75893-8"), score(10, 5, PEG, code="91147-9")]
    series = build_pain_series(scores, S, sufficient=lambda pts: True)
    assert [(p.value, p.n_scores) for p in series.points] == [(5, 1)]


def test_faces_is_counted_but_never_trended() -> None:
    scores = [score(d, 4, FACES) for d in (60, 40, 20, 10)]
    series = build_pain_series(scores, S)
    assert series.instrument is None
    assert series.selection == "none"
    assert series.days_for(FACES) == 4
    assert "4 Wong-Baker FACES day(s) not trended" in series.reason


def test_out_of_range_values_and_interference_items_are_unusable() -> None:
    scores = [score(9, 11), score(8, -1), score(7, float("nan")), score(6, 5, PEG, code="91145-3")]
    series = build_pain_series(scores, S)
    assert series.points == ()
    assert series.dropped_unusable == 4


def test_no_scores_at_all() -> None:
    series = build_pain_series([], S)
    assert series.instrument is None
    assert series.reason == "No ambulatory PEG or NRS pain scores recorded."


def test_insufficient_everywhere_keeps_the_instrument_with_most_days() -> None:
    scores = [score(30, 5, PEG), score(20, 6), score(10, 6)]
    series = build_pain_series(scores, S)
    assert series.instrument is NRS
    assert series.selection == "insufficient"
    assert "Not enough ambulatory pain scores" in series.reason


def test_window_limits_the_scores() -> None:
    window = DateWindow(AS_OF - timedelta(days=20), AS_OF)
    scores = [score(30, 9), score(15, 4), score(5, 5)]
    series = build_pain_series(scores, S, window=window, sufficient=lambda pts: True)
    assert [p.value for p in series.points] == [4, 5]
    assert series.in_window(DateWindow(AS_OF - timedelta(days=6), AS_OF))[0].value == 5
