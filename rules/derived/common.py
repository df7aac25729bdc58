"""Shared pieces of the derived quantities: inclusive date windows, a daily MME series
indexed by day offset, window means over it, tolerant comparisons, and the wording of
numbers in reasons."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rules.timeline import Code, ConditionFact
from rules.units import MmePerDay

__all__ = [
    "ACTIVE_CLINICAL_STATUSES",
    "REL_TOL",
    "DailySeries",
    "DateWindow",
    "RecordFinding",
    "at_least",
    "condition_day",
    "describe_code",
    "fmt_mme",
    "fmt_points",
    "is_active",
    "is_refuted",
    "mean_over",
]

# Float noise (1.2 × 50 = 60.00000000000001) must not flip a boundary the spec states
# as "≥"; differences below this relative tolerance count as equal.
REL_TOL = 1e-9
_REL_TOL = REL_TOL

ACTIVE_CLINICAL_STATUSES = frozenset({"active", "recurrence", "relapse"})
_REFUTED = frozenset({"entered-in-error", "refuted"})


def at_least(value: float, threshold: float) -> bool:
    """``value ≥ threshold``, tolerant of floating-point noise."""
    return value >= threshold - _REL_TOL * max(1.0, abs(threshold))


@dataclass(frozen=True, slots=True, order=True)
class DateWindow:
    """Calendar days ``start``..``end``, both inclusive (the spec's [a, b) is end = b − 1)."""

    start: date
    end: date

    @classmethod
    def ending_before(cls, anchor: date, days: int) -> DateWindow:
        """The ``days`` days before ``anchor``: the spec's [anchor − days, anchor)."""
        return cls(anchor - timedelta(days=days), anchor - timedelta(days=1))

    @classmethod
    def last_days(cls, as_of: date, days: int) -> DateWindow:
        """The ``days`` days ending on and including ``as_of``."""
        return cls(as_of - timedelta(days=days - 1), as_of)

    @classmethod
    def within(cls, as_of: date, days: int) -> DateWindow:
        """ "Within the last ``days`` days": ``as_of − days`` to ``as_of`` inclusive.

        Used for lookbacks (neuro-excitation 30 d, naloxone 730 d, labs, cancer and
        end-of-life 365 d), where a record exactly ``days`` ago still counts; averaging
        windows use :meth:`last_days` (exactly ``days`` days).
        """
        return cls(as_of - timedelta(days=days), as_of)

    @property
    def days(self) -> int:
        return max(0, (self.end - self.start).days + 1)

    @property
    def is_empty(self) -> bool:
        return self.end < self.start

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def iter_days(self) -> Iterator[date]:
        for offset in range(self.days):
            yield self.start + timedelta(days=offset)

    def overlaps(self, start: date, end: date | None) -> bool:
        """Whether [start, end] (end None = still going / single day) meets this window."""
        last = end if end is not None and end >= start else start
        return start <= self.end and last >= self.start

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


class DailySeries(Mapping[date, float]):
    """A daily series (MME/day) as one value per day from ``start``, oldest first.

    Read-only ``Mapping[date, float]`` over the days it covers; the derived quantities
    use :meth:`between` and :meth:`mean` instead, which read a window as one list slice
    (a day outside the series counts as 0), so a window costs its length and no dict
    is rebuilt per day.
    """

    __slots__ = ("_values", "start")

    def __init__(self, start: date, values: Sequence[float]) -> None:
        self.start = start
        self._values: tuple[float, ...] = tuple(values)

    @classmethod
    def of(cls, series: Mapping[date, float]) -> DailySeries:
        """``series`` itself when it is one, else its days from the first to the last key
        (a day missing in between counts as 0)."""
        if isinstance(series, DailySeries):
            return series
        if not series:
            return cls(date(2000, 1, 1), ())
        first, last = min(series), max(series)
        return cls(
            first,
            [series.get(first + timedelta(days=i), 0.0) for i in range((last - first).days + 1)],
        )

    @property
    def by_offset(self) -> tuple[float, ...]:
        """The values, ``by_offset[i]`` being the day ``start + i``."""
        return self._values

    def offset(self, day: date) -> int:
        """The index of ``day`` in :attr:`by_offset` (negative or past the end when outside)."""
        return (day - self.start).days

    def between(self, first: date, last: date) -> list[float]:
        """The values of ``first``..``last`` inclusive, 0.0 for days outside the series."""
        lo, hi = (first - self.start).days, (last - self.start).days + 1
        if hi <= lo:
            return []
        n = len(self._values)
        if lo >= 0 and hi <= n:
            return list(self._values[lo:hi])
        out = [0.0] * (min(hi, 0) - lo) if lo < 0 else []
        first_in, end_in = max(lo, 0), min(hi, n)
        if end_in > first_in:
            out += self._values[first_in:end_in]
        if hi > n:
            out += [0.0] * (hi - max(lo, n))
        return out

    def mean(self, window: DateWindow) -> float:
        """Mean over the window, a day outside the series counting as 0 (as :func:`mean_over`)."""
        if window.days == 0:
            return 0.0
        return sum(self.between(window.start, window.end)) / window.days

    def __getitem__(self, day: date) -> float:
        if isinstance(day, date) and not isinstance(day, datetime):
            index = (day - self.start).days
            if 0 <= index < len(self._values):
                return self._values[index]
        raise KeyError(day)

    def __iter__(self) -> Iterator[date]:
        start = self.start
        return (start + timedelta(days=i) for i in range(len(self._values)))

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"DailySeries(start={self.start!r}, days={len(self._values)})"


def mean_over(series: Mapping[date, float], window: DateWindow) -> float:
    """Mean MME/day over the window; a day missing from the series counts as 0."""
    if isinstance(series, DailySeries):
        return series.mean(window)
    if window.days == 0:
        return 0.0
    return sum(series.get(day, 0.0) for day in window.iter_days()) / window.days


def fmt_mme(value: float) -> str:
    """An MME/day figure as shown to clinicians ("45 MME/day")."""
    return str(MmePerDay(max(0.0, value)))


def fmt_points(value: float) -> str:
    """A pain score or change, to one decimal without trailing zeros ("5", "2.5")."""
    return f"{round(value, 1):g}"


def condition_day(condition: ConditionFact) -> date | None:
    """The day a condition is dated by: onset, else recorded."""
    return condition.onset or condition.recorded


def is_refuted(condition: ConditionFact) -> bool:
    """Entered in error or refuted: never evidence of anything."""
    return (condition.verification_status or "").lower() in _REFUTED


def is_active(condition: ConditionFact) -> bool:
    """Active, recurrence or relapse; a missing clinical status is taken as active."""
    if is_refuted(condition):
        return False
    status = (condition.clinical_status or "").lower()
    return not status or status in ACTIVE_CLINICAL_STATUSES


@dataclass(frozen=True, slots=True)
class RecordFinding:
    """One record that supports a finding, for the explain endpoint and card details.

    ``kind`` is a stable key (``injury``, ``surgery``, ``sickle_cell``…); ``description``
    is what a clinician reads ("hip fracture (ICD-10 S72.001A) on 2025-03-09").
    """

    kind: str
    description: str
    day: date | None = None
    reference: str | None = None
    code: Code | None = None


_SYSTEM_NAMES = {
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://snomed.info/sct": "SNOMED",
    "http://loinc.org": "LOINC",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
}


def describe_code(code: Code) -> str:
    """ "hip fracture (ICD-10-CM S72.001A)", or just the coded form without a display."""
    coded = f"{_SYSTEM_NAMES.get(code.system, code.system)} {code.code}"
    return f"{code.display} ({coded})" if code.display else coded
