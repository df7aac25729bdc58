"""Free-text sig parsing for orders whose only directions are ``dosageInstruction.text``.

About 20 % of opioid prescriptions carry only free text (clinical-rules P5). This
parser reads the common, unambiguous patterns ("1 tab po q6h prn", "take 2 tablets by
mouth every 4 hours as needed", "one patch every 72 hours", "5 mg twice daily",
"1-2 tabs q4-6h prn") and refuses everything else: a wrong dose is worse than no
dose, because the MME engine reports an unparsed sig as "not computed" instead of
silently under- or over-counting. Ranges resolve to the maximum ("1-2 tabs" → 2,
"q4-6h" → every 4 h), like CQF's MMECalculator does for structured ranges.

Refused on purpose: directions that change over time ("then", "taper", "titrate"),
that defer elsewhere ("as directed", "see instructions", "sliding scale"), that
have no unit ("5 bid"), two different doses or frequencies, or no dose or frequency.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from rules.timeline import Amount


@dataclass(frozen=True, slots=True)
class ParsedSig:
    """What a sig says; ``problem`` is set (and the rest unreliable) when it was refused."""

    dose: Amount | None = None
    doses_per_day: float | None = None
    as_needed: bool = False
    max_per_day: Amount | None = None
    interval_days: float | None = None
    problem: str | None = None


_WORD_NUMBERS: Final = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
}

#: Dose units as written → the unit we report (UCUM, or a UCUM annotation for counts).
_UNITS: Final = {
    "tab": "{tbl}",
    "tabs": "{tbl}",
    "tablet": "{tbl}",
    "tablets": "{tbl}",
    "tbl": "{tbl}",
    "cap": "{cap}",
    "caps": "{cap}",
    "capsule": "{cap}",
    "capsules": "{cap}",
    "pill": "{pill}",
    "pills": "{pill}",
    "mg": "mg",
    "mcg": "ug",
    "ug": "ug",
    "µg": "ug",
    "microgram": "ug",
    "micrograms": "ug",
    "ml": "mL",
    "cc": "mL",
    "patch": "{patch}",
    "patches": "{patch}",
    "puff": "{puff}",
    "puffs": "{puff}",
    "spray": "{spray}",
    "sprays": "{spray}",
    "film": "{film}",
    "films": "{film}",
    "lozenge": "{lozenge}",
    "lozenges": "{lozenge}",
    "suppository": "{suppository}",
    "suppositories": "{suppository}",
}
_UNIT_RE: Final = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_NUM: Final = r"\d+(?:\.\d+)?"
_RANGE_SEP: Final = r"\s*(?:-|–|to|or)\s*"

_REFUSE: Final = (
    (
        re.compile(
            r"\b(?:as directed|directed by|see (?:instructions|attached|note)|per protocol)\b"
        ),
        "the directions defer elsewhere ('as directed')",
    ),
    (
        re.compile(r"\b(?:then|taper|tapering|titrate|titration|followed by|alternat\w*|until)\b"),
        "the dose changes over time (taper/titration or 'then')",
    ),
    (re.compile(r"\bsliding scale\b"), "the dose follows a sliding scale"),
)

_PRN: Final = re.compile(r"\b(?:prn|as needed|as-needed|when needed|if needed|as required)\b")
_DURATION: Final = re.compile(r"\b(?:x|for)\s*\d+\s*(?:days?|d|weeks?|wks?|months?)\b")
_STRENGTH: Final = re.compile(rf"\b{_NUM}\s*(?:mcg|ug|µg|mg)\s*/\s*(?:hr|h|hour)\b")
_MAX: Final = re.compile(
    rf"\b(?:max(?:imum)?|not to exceed|do not exceed|no more than|nte)\b\D{{0,12}}?"
    rf"(?P<n>{_NUM})\s*(?P<unit>{_UNIT_RE})?\s*(?:per|a|in|/|every|each)\s*"
    r"(?P<per>24\s*(?:h|hr|hrs|hours)|day|d)\b"
)
_DOSE: Final = re.compile(rf"(?P<n>{_NUM})(?:{_RANGE_SEP}(?P<n2>{_NUM}))?\s*(?P<unit>{_UNIT_RE})\b")
_HOURS: Final = r"(?:h|hr|hrs|hour|hours)"

FrequencyRule = tuple[re.Pattern[str], Callable[[re.Match[str]], float]]


def _hours(m: re.Match[str]) -> float:
    return 24 / float(m.group(1))


def _hours_range(m: re.Match[str]) -> float:
    return 24 / min(float(m.group(1)), float(m.group(2)))


#: Frequency patterns → doses per day, most specific first; each match is blanked
#: before the next pattern runs so "twice daily" is not also read as "daily".
_FREQUENCIES: Final[tuple[FrequencyRule, ...]] = (
    (re.compile(rf"\b(?:q|every)\s*({_NUM}){_RANGE_SEP}({_NUM})\s*{_HOURS}\b"), _hours_range),
    (re.compile(rf"\b(?:q|every)\s*({_NUM})\s*{_HOURS}\b"), _hours),
    (re.compile(r"\b(?:q|every)\s*(\d+)\s*(?:d|days?)\b"), lambda m: 1 / float(m.group(1))),
    (
        re.compile(r"\b(?:q|every)\s*(\d+)\s*(?:wk|wks|weeks?)\b"),
        lambda m: 1 / (7 * float(m.group(1))),
    ),
    (re.compile(r"\b(?:qod|every other day)\b"), lambda m: 0.5),
    (
        re.compile(
            rf"\b(\d+){_RANGE_SEP}(\d+)\s*(?:x|times?)\s*(?:a|per|each|/)?\s*(?:day|daily)\b"
        ),
        lambda m: float(max(int(m.group(1)), int(m.group(2)))),
    ),
    (
        re.compile(r"\b(\d+)\s*(?:x|times?)\s*(?:a|per|each|/)?\s*(?:day|daily|d)\b"),
        lambda m: float(m.group(1)),
    ),
    (re.compile(r"\bonce\s*(?:a|per|each)?\s*(?:day|daily)\b"), lambda m: 1.0),
    (re.compile(r"\btwice\s*(?:a|per|each)?\s*(?:day|daily)\b"), lambda m: 2.0),
    (re.compile(r"\bthrice\s*(?:a|per|each)?\s*(?:day|daily)\b"), lambda m: 3.0),
    (re.compile(r"\b(?:once\s*(?:a|per|each)?\s*week|weekly|every week)\b"), lambda m: 1 / 7),
    (re.compile(r"\bbid\b"), lambda m: 2.0),
    (re.compile(r"\btid\b"), lambda m: 3.0),
    (re.compile(r"\bqid\b"), lambda m: 4.0),
    (
        re.compile(
            r"\b(?:q\s*(?:d|day)|qam|qpm|qhs|hs|nightly|daily|at bedtime|at night"
            r"|(?:every|each) (?:morning|night|evening|day)|in the (?:morning|evening))\b"
        ),
        lambda m: 1.0,
    ),
)


def normalise_sig_text(text: str) -> str:
    """Lower-case, expand number words, drop abbreviation dots and parentheses."""
    t = text.lower().replace("½", "0.5").replace("1/2", "0.5")
    t = re.sub(r"(?<=[a-z])\.", "", t)  # b.i.d. → bid, p.o. → po, q.6.h. → q6.h
    t = re.sub(r"(?<=\d)\.(?=[a-z])", "", t)  # q6.h → q6h
    t = re.sub(r"\([^)]*\)", " ", t)  # "(5 mg total)" restates the dose
    t = re.sub(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", lambda m: _WORD_NUMBERS[m.group(1)], t)
    return re.sub(r"\s+", " ", t).strip()


def parse_sig(text: str | None) -> ParsedSig:
    """Read dose, doses per day, PRN and a daily maximum from free-text directions."""
    if not text or not text.strip():
        return ParsedSig(problem="the directions are empty")
    t = normalise_sig_text(text)
    for pattern, why in _REFUSE:
        if pattern.search(t):
            return ParsedSig(problem=f"the free-text directions could not be read: {why}")
    as_needed = _PRN.search(t) is not None
    t = _DURATION.sub(" ", t)
    t = _STRENGTH.sub(" ", t)  # "25 mcg/hr" names the patch strength, not the dose

    max_per_day: Amount | None = None
    max_match = _MAX.search(t)
    max_unit: str | None = None
    if max_match:
        per_day = float(max_match.group("n"))
        max_unit = _UNITS[max_match.group("unit")] if max_match.group("unit") else None
        t = t[: max_match.start()] + " " + t[max_match.end() :]
        max_per_day = Amount(per_day, max_unit)

    doses = {
        (max(float(m.group("n")), float(m.group("n2") or 0)), _UNITS[m.group("unit")])
        for m in _DOSE.finditer(t)
    }
    if len(doses) > 1:
        return ParsedSig(problem="the free-text directions name more than one dose")
    dose = Amount(*doses.pop()) if doses else None
    if max_per_day is not None and max_per_day.unit is None and dose is not None:
        max_per_day = Amount(max_per_day.value, dose.unit)

    frequencies: dict[float, float] = {}  # rounded (to compare) → exact
    for pattern, per_day_of in _FREQUENCIES:
        for m in pattern.finditer(t):
            value = per_day_of(m)
            frequencies[round(value, 6)] = value
        t = pattern.sub(" ", t)
    if len(frequencies) > 1:
        return ParsedSig(problem="the free-text directions name more than one frequency")
    doses_per_day = next(iter(frequencies.values())) if frequencies else None

    missing = [
        what
        for what, value in (("a dose with a unit", dose), ("a frequency", doses_per_day))
        if value is None
    ]
    if missing:
        return ParsedSig(
            dose=dose,
            doses_per_day=doses_per_day,
            as_needed=as_needed,
            max_per_day=max_per_day,
            problem=f"the free-text directions could not be read: {' and '.join(missing)} "
            "could not be found",
        )
    interval = None
    if dose is not None and dose.unit == "{patch}" and doses_per_day and doses_per_day < 1:
        interval = 1 / doses_per_day
    return ParsedSig(
        dose=dose,
        doses_per_day=doses_per_day,
        as_needed=as_needed,
        max_per_day=max_per_day,
        interval_days=interval,
    )
