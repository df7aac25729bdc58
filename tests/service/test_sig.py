"""Free-text sig parsing: what must be read, and what must be refused (not guessed)."""

from __future__ import annotations

import pytest

from rules.timeline import Amount
from service.normalize.sig import parse_sig

TAB, CAP = "{tbl}", "{cap}"

# (sig, dose value, dose unit, doses per day, as needed)
PARSED = [
    ("1 tab po q6h prn", 1, TAB, 4, True),
    ("take 2 tablets by mouth every 4 hours as needed for pain", 2, TAB, 6, True),
    ("one patch every 72 hours", 1, "{patch}", 1 / 3, False),
    ("apply 1 patch (25 mcg/hr) to skin every 3 days", 1, "{patch}", 1 / 3, False),
    ("5 mg twice daily", 5, "mg", 2, False),
    ("10 mL q4h prn", 10, "mL", 6, True),
    ("1-2 tabs q4-6h prn", 2, TAB, 6, True),
    ("one to two tablets every four to six hours as needed", 2, TAB, 6, True),
    ("1 tab bid", 1, TAB, 2, False),
    ("1 cap tid", 1, CAP, 3, False),
    ("2 tabs qid", 2, TAB, 4, False),
    ("1 tab qd", 1, TAB, 1, False),
    ("1 tab po qhs", 1, TAB, 1, False),
    ("take one tablet nightly", 1, TAB, 1, False),
    ("1 tablet daily", 1, TAB, 1, False),
    ("10 mg every 8 hours", 10, "mg", 3, False),
    ("15 mg po q12h", 15, "mg", 2, False),
    ("5 mL bid x 10 days", 5, "mL", 2, False),
    ("take 1 tablet by mouth 3 times a day", 1, TAB, 3, False),
    ("Take 1 tablet by mouth b.i.d. p.r.n.", 1, TAB, 2, True),
    ("1 tab q.6.h.", 1, TAB, 4, False),
    ("0.5 tab bid", 0.5, TAB, 2, False),
    ("1/2 tab q8h prn", 0.5, TAB, 3, True),
    ("take 1 tablet by mouth once daily", 1, TAB, 1, False),
    ("Take 1 tablet (5 mg total) by mouth every 6 hours as needed for pain", 1, TAB, 4, True),
    ("2 capsules by mouth every twelve hours", 2, CAP, 2, False),
    ("1 tab every other day", 1, TAB, 0.5, False),
    ("take 1 tab at bedtime", 1, TAB, 1, False),
    ("TAKE 1 TABLET BY MOUTH EVERY 4 HOURS AS NEEDED", 1, TAB, 6, True),
    ("1 tab 2 times daily", 1, TAB, 2, False),
    ("1-2 tablets 3-4 times a day as needed", 2, TAB, 4, True),
]

REFUSED = [
    ("", "empty"),
    ("as directed", "defer"),
    ("take as directed by physician", "defer"),
    ("see instructions", "defer"),
    ("1 tab bid x 3 days then 1 tab daily", "changes over time"),
    ("taper: 10 mg daily for a week", "changes over time"),
    ("titrate to effect", "changes over time"),
    ("per sliding scale", "sliding scale"),
    ("take twice daily", "dose with a unit"),
    ("take 1 tablet", "frequency"),
    ("5 bid", "dose with a unit"),
    ("q6h prn", "dose with a unit"),
    ("1 tab q6h or 2 tabs q8h", "more than one dose"),
    ("1 tab q6h and 1 tab bid", "more than one frequency"),
    ("apply to affected area twice daily", "dose with a unit"),
]


@pytest.mark.parametrize(("sig", "value", "unit", "per_day", "prn"), PARSED)
def test_parses_common_sigs(sig: str, value: float, unit: str, per_day: float, prn: bool) -> None:
    parsed = parse_sig(sig)
    assert parsed.problem is None
    assert parsed.dose == Amount(value, unit)
    assert parsed.doses_per_day == pytest.approx(per_day)
    assert parsed.as_needed is prn


@pytest.mark.parametrize(("sig", "why"), REFUSED)
def test_refuses_what_it_cannot_read(sig: str, why: str) -> None:
    parsed = parse_sig(sig)
    assert parsed.problem is not None
    assert why in parsed.problem


def test_table_is_large_enough() -> None:
    assert len(PARSED) + len(REFUSED) >= 30


def test_patch_interval_is_set_only_for_patches() -> None:
    assert parse_sig("one patch every 72 hours").interval_days == pytest.approx(3.0)
    assert parse_sig("1 tab every 3 days").interval_days is None


def test_daily_maximum_is_read_and_not_mistaken_for_a_second_dose() -> None:
    parsed = parse_sig("1 tab po q4h prn, max 4 tablets per day")
    assert parsed.problem is None
    assert parsed.dose == Amount(1, TAB)
    assert parsed.doses_per_day == 6
    assert parsed.max_per_day == Amount(4, TAB)
    assert parse_sig("5 mg q6h prn not to exceed 20 mg in 24 hours").max_per_day == Amount(20, "mg")
