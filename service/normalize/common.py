"""Small readers shared by the normalisers: codes, days, durations, amounts, references.

They take the R4B models re-exported by :mod:`service.fhir.resources` (already
validated) and return the plain values of :mod:`rules.timeline`. Nothing here
knows about a clock: a day is read from the record, never from "now".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from rules.timeline import ICD10CM, LOINC, NDC, RXNORM, SNOMED, Amount, Code
from service.fhir.resources import CodeableConcept, Coding, Duration, Quantity

#: OID forms of the code systems we read, mapped to their canonical FHIR URIs, so the
#: rules compare one spelling only.
SYSTEM_ALIASES: Final = {
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
    "urn:oid:2.16.840.1.113883.6.69": NDC,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "http://www.nlm.nih.gov/research/umls/rxnorm/": RXNORM,
}

#: Days per UCUM time unit (``Timing.periodUnit``, Duration ``code``). A month is 30
#: days and a year 365, as in CQF's MMECalculator ``ToDaily``.
UCUM_DAYS: Final = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.0,
    "a": 365.0,
}

#: Human spellings seen in ``Duration.unit`` when ``code`` is missing.
_UNIT_WORDS: Final = {
    "second": "s",
    "seconds": "s",
    "sec": "s",
    "minute": "min",
    "minutes": "min",
    "hour": "h",
    "hours": "h",
    "hr": "h",
    "hrs": "h",
    "day": "d",
    "days": "d",
    "week": "wk",
    "weeks": "wk",
    "month": "mo",
    "months": "mo",
    "year": "a",
    "years": "a",
    "yr": "a",
}

_PARTIAL_DATE = re.compile(r"(\d{4})(?:-(\d{2}))?")


def canonical_system(system: str | None) -> str | None:
    if system is None:
        return None
    return SYSTEM_ALIASES.get(system, system)


def codings(concept: CodeableConcept | None) -> Iterator[Coding]:
    if concept is not None:
        yield from concept.coding or ()


def codes_of(
    concepts: CodeableConcept | Iterable[CodeableConcept] | None,
    systems: frozenset[str] | None = None,
) -> tuple[Code, ...]:
    """Codings (with a system and a code) as :class:`Code`, optionally only some systems."""
    if concepts is None:
        return ()
    items = [concepts] if isinstance(concepts, CodeableConcept) else list(concepts)
    out: list[Code] = []
    for concept in items:
        for coding in codings(concept):
            system = canonical_system(coding.system)
            if not system or not coding.code:
                continue
            if systems is not None and system not in systems:
                continue
            code = Code(system, str(coding.code), coding.display)
            if code not in out:
                out.append(code)
    return tuple(out)


def concept_codes(concepts: Iterable[CodeableConcept] | None) -> tuple[str, ...]:
    """Bare codes of category-like concepts (``community``, ``problem-list-item``...).

    Falls back to the concept's text when it has no coding.
    """
    out: list[str] = []
    for concept in concepts or ():
        found = [str(c.code) for c in codings(concept) if c.code]
        if not found and concept.text:
            found = [concept.text.strip().lower()]
        out.extend(x for x in found if x not in out)
    return tuple(out)


def first_code(concept: CodeableConcept | None) -> str | None:
    for coding in codings(concept):
        if coding.code:
            return str(coding.code)
    return None


def to_day(value: object) -> date | None:
    """A FHIR date/dateTime/instant as a calendar day.

    An aware dateTime keeps the day *as recorded in its own offset* (a 23:30-05:00
    score belongs to that evening, not to the next UTC day). Partial dates (``2019``,
    ``2019-05``) give the first day of the period; use :func:`precise_day` where
    that would mislead.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        match = _PARTIAL_DATE.fullmatch(value.strip())
        if match:
            return date(int(match.group(1)), int(match.group(2) or 1), 1)
    return None


def precise_day(value: object) -> date | None:
    """Like :func:`to_day`, but ``None`` for a year or month-only date."""
    if isinstance(value, date):  # datetime is a date too
        return to_day(value)
    return None


def unit_days(code: str | None, unit: str | None = None) -> float | None:
    """Days in one UCUM time unit (``code`` preferred, else a spelled-out ``unit``)."""
    for candidate in (code, unit):
        if not candidate:
            continue
        key = candidate.strip()
        if key in UCUM_DAYS:
            return UCUM_DAYS[key]
        word = _UNIT_WORDS.get(key.lower())
        if word:
            return UCUM_DAYS[word]
    return None


def duration_days(
    duration: Duration | Quantity | None, *, default_days: bool = False
) -> float | None:
    """A Duration (or a days-supply Quantity) in days; ``None`` if the unit is unknown.

    ``default_days`` treats a unit-less value as days (``MedicationDispense.daysSupply``
    is days by definition).
    """
    if duration is None or duration.value is None:
        return None
    factor = unit_days(duration.code, duration.unit)
    if factor is None:
        if not default_days or duration.code or duration.unit:
            return None
        factor = 1.0
    return float(duration.value) * factor


def amount(quantity: Quantity | None) -> Amount | None:
    """A Quantity as an :class:`Amount`; the unit is the UCUM ``code`` if given, else ``unit``."""
    if quantity is None or quantity.value is None:
        return None
    unit = quantity.code or quantity.unit
    return Amount(as_float(quantity.value), str(unit) if unit else None)


def as_float(value: Decimal | float | int) -> float:
    return float(value)


def reference_keys(reference: str | None) -> tuple[str, ...]:
    """Keys under which a reference can match an indexed resource.

    ``Encounter/1``, ``https://ehr/fhir/Encounter/1`` (and its ``/_history/2``
    form) and ``urn:uuid:...`` all reduce to comparable keys.
    """
    if not reference:
        return ()
    ref = reference.strip()
    keys = [ref]
    parts = ref.split("/_history/", 1)[0].rstrip("/").split("/")
    if len(parts) >= 2 and not ref.startswith("urn:"):
        keys.append(f"{parts[-2]}/{parts[-1]}")
    return tuple(dict.fromkeys(keys))


def resource_keys(resource_type: str, rid: str | None, full_url: str | None) -> tuple[str, ...]:
    """Keys under which other resources may reference this one."""
    keys: list[str] = []
    if rid:
        keys.append(f"{resource_type}/{rid}")
    if full_url:
        keys.extend(reference_keys(full_url))
    return tuple(dict.fromkeys(keys))


def local_reference(resource_type: str, rid: str | None, fallback: str) -> str:
    """``Type/id`` for explanations; the position when the resource has no id."""
    return f"{resource_type}/{rid}" if rid else f"{resource_type} at {fallback}"
