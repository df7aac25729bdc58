"""Observation → :class:`PainScore` (pain instruments) and :class:`LabResult` (eGFR, QTc).

The pain codes and instruments come from ``/work/shared/data/pain_score_codes.csv``
(compiled from Synthea, AHRQ PMS, cqframework/cds4cpm and VSAC; see its
``where_seen`` column) and clinical-rules §4.1; they are encoded here as constants
rather than read at run time. Instruments are never pooled by the rules, so the
mapping is deliberately narrow:

* PEG = the PEG mean (91147-9) or PEG item 1, average pain (75893-8); the interference
  items 91145-3 / 91146-1 keep their code but are ``OTHER``, as is the BPI
  interference score;
* NRS = 72514-3, and 38208-5 only when the record says it is a 0–10 scale
  (``referenceRange.high`` = 10 or "0-10" in the code text/display or unit);
* a PEG panel (91148-7) has no value of its own: its item components are read.

Values: ``valueQuantity``, ``valueInteger``, or a coded answer: an
``ordinalValue``/``itemWeight`` extension on the coding, the LOINC 0–10 answer list
(LA6111-4 "0" … LA13942-0 "10"), or a numeric display. Only final, amended and
corrected results count; a score outside 0–10 or without a full date becomes a
:class:`DataGap`, never a clipped value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, TypeAlias

from rules.timeline import LOINC, DataGap, LabResult, PainInstrument, PainScore
from service.catalog import LAB_LOINC_CODES
from service.fhir.resources import CodeableConcept, Observation, ParsedResource, Quantity
from service.normalize.common import (
    as_float,
    canonical_system,
    codings,
    local_reference,
    precise_day,
    reference_keys,
)

#: AHRQ PMS local code system (legacy PEG codes, see pain_score_codes.csv).
AHRQ_PMS: Final = "http://cds.ahrq.gov/cdsconnect/pms"


@dataclass(frozen=True, slots=True)
class PainCode:
    instrument: PainInstrument
    #: whether a value can be trusted to be on a 0-10 scale without further evidence
    zero_to_ten: bool = True


PAIN_CODES: Final[Mapping[tuple[str, str], PainCode]] = {
    (LOINC, "72514-3"): PainCode(PainInstrument.NRS),
    (LOINC, "38208-5"): PainCode(PainInstrument.NRS, zero_to_ten=False),
    (LOINC, "91147-9"): PainCode(PainInstrument.PEG),
    (LOINC, "75893-8"): PainCode(PainInstrument.PEG),
    (LOINC, "91145-3"): PainCode(PainInstrument.OTHER),  # PEG item 2 (interference)
    (LOINC, "91146-1"): PainCode(PainInstrument.OTHER),  # PEG item 3 (interference)
    (LOINC, "38221-8"): PainCode(PainInstrument.FACES),
    (LOINC, "38214-3"): PainCode(PainInstrument.OTHER),  # VAS
    (LOINC, "77565-0"): PainCode(PainInstrument.OTHER),  # BPI interference
    (LOINC, "75262-6"): PainCode(PainInstrument.PROMIS),
    (LOINC, "75261-8"): PainCode(PainInstrument.PROMIS),
    (LOINC, "75260-0"): PainCode(PainInstrument.PROMIS),
    (LOINC, "61758-9"): PainCode(PainInstrument.PROMIS),  # interference item
    # Listed in service.catalog.PAIN_LOINC_CODES (prefetched) though not in the CSV.
    (LOINC, "61743-1"): PainCode(PainInstrument.PROMIS),
    (AHRQ_PMS, "PEGASSESSMENT"): PainCode(PainInstrument.PEG),
    (AHRQ_PMS, "PEGPAIN"): PainCode(PainInstrument.PEG),
}
PEG_PANEL: Final = (LOINC, "91148-7")
LAB_CODES: Final = frozenset((LOINC, code) for code in LAB_LOINC_CODES)
_WANTED_CODES: Final = frozenset(code for _, code in (*PAIN_CODES, PEG_PANEL, *LAB_CODES))

#: LOINC answer list for 0-10 numeric pain ratings.
LOINC_0_10_ANSWERS: Final = {
    "LA6111-4": 0,
    "LA6112-2": 1,
    "LA6113-0": 2,
    "LA6114-8": 3,
    "LA6115-5": 4,
    "LA10137-0": 5,
    "LA10138-8": 6,
    "LA10139-6": 7,
    "LA10140-4": 8,
    "LA10141-2": 9,
    "LA13942-0": 10,
}
_ORDINAL_EXTENSIONS: Final = (
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
)
_USABLE_STATUS: Final = frozenset({"final", "amended", "corrected"})
_NUMBER: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*")
_ZERO_TO_TEN: Final = re.compile(r"0\s*(?:-|–|to)\s*10|/\s*10\b")


def is_wanted_observation(raw: Mapping[str, Any]) -> bool:
    """Cheap pre-validation filter: does this raw Observation carry a code we read?"""
    code = raw.get("code")
    coding = code.get("coding") if isinstance(code, Mapping) else None
    if not isinstance(coding, list):
        return False
    for c in coding:
        if isinstance(c, Mapping):
            value = c.get("code")
            # a code that is not a string is not one we read (and must not crash the set test)
            if isinstance(value, str) and value in _WANTED_CODES:
                return True
    return False


def pain_scores(
    observations: Iterable[ParsedResource],
    encounter_classes: Mapping[str, str],
    *,
    as_of: date,
) -> tuple[list[PainScore], list[DataGap]]:
    """Pain scores by day; ``encounter_classes`` maps encounter reference keys to class."""
    scores: list[PainScore] = []
    gaps: list[DataGap] = []
    # Validated elements are shared between resources (one model per distinct JSON in
    # a request), so what a code or an encounter reference means is worked out once.
    codes: _CodeMemo = {}
    classes: dict[str | None, str | None] = {}
    for parsed in observations:
        obs = parsed.model
        assert isinstance(obs, Observation)
        if obs.status not in _USABLE_STATUS:
            continue
        ref = local_reference("Observation", obs.id, parsed.location)
        items = _pain_items(obs, codes)
        if not items:
            continue
        day = precise_day(obs.effectiveDateTime) or precise_day(obs.effectiveInstant)
        if day is None and obs.effectivePeriod is not None:
            day = precise_day(obs.effectivePeriod.start)
        day = day or precise_day(obs.issued)
        if day is None:
            gaps.append(DataGap("pain-score-without-date", f"{ref} has no full date.", ref))
            continue
        if day > as_of:
            gaps.append(DataGap("future-dated", f"{ref} is dated after {as_of}; ignored.", ref))
            continue
        encounter_class = None
        if obs.encounter is not None:
            reference = obs.encounter.reference
            if reference in classes:
                encounter_class = classes[reference]
            else:
                encounter_class = classes[reference] = next(
                    (
                        encounter_classes[k]
                        for k in reference_keys(reference)
                        if k in encounter_classes
                    ),
                    None,
                )
        for code, info, value_holder in items:
            value = _value(value_holder)
            if value is None:
                gaps.append(
                    DataGap("unreadable-pain-score", f"{ref} ({code}) has no numeric value.", ref)
                )
                continue
            if not 0 <= value <= 10:
                gaps.append(
                    DataGap(
                        "pain-score-out-of-range",
                        f"{ref} ({code}) is outside the 0-10 scale and was not used.",
                        ref,
                    )
                )
                continue
            instrument = info.instrument
            if not info.zero_to_ten and not _says_zero_to_ten(obs):
                instrument = PainInstrument.OTHER
            scores.append(PainScore(day, value, instrument, code, encounter_class, ref))
    scores.sort(key=lambda s: (s.day, s.code))
    return scores, gaps


def lab_results(
    observations: Iterable[ParsedResource], *, as_of: date
) -> tuple[list[LabResult], list[DataGap]]:
    """Numeric eGFR / QTc / QT results (codes from :data:`service.catalog.LAB_LOINC_CODES`)."""
    labs: list[LabResult] = []
    gaps: list[DataGap] = []
    for parsed in observations:
        obs = parsed.model
        assert isinstance(obs, Observation)
        if obs.status not in _USABLE_STATUS:
            continue
        code = next(
            (
                str(c.code)
                for c in codings(obs.code)
                if (canonical_system(c.system), c.code) in LAB_CODES
            ),
            None,
        )
        if code is None:
            continue
        ref = local_reference("Observation", obs.id, parsed.location)
        day = precise_day(obs.effectiveDateTime) or precise_day(obs.effectiveInstant)
        if day is None and obs.effectivePeriod is not None:
            day = precise_day(obs.effectivePeriod.start)
        day = day or precise_day(obs.issued)
        value, unit = _lab_value(obs)
        if day is None or value is None:
            gaps.append(DataGap("unreadable-lab", f"{ref} ({code}) has no date or value.", ref))
            continue
        if day > as_of:
            gaps.append(DataGap("future-dated", f"{ref} is dated after {as_of}; ignored.", ref))
            continue
        labs.append(LabResult(code, value, unit, day, ref))
    labs.sort(key=lambda lab: (lab.day, lab.code))
    return labs, gaps


# --- helpers --------------------------------------------------------------------------


def _pain_code(concept: CodeableConcept | None) -> tuple[str, PainCode] | None:
    for c in codings(concept):
        key = (canonical_system(c.system) or "", str(c.code or ""))
        if key in PAIN_CODES:
            return key[1], PAIN_CODES[key]
    return None


def _is_peg_panel(concept: CodeableConcept | None) -> bool:
    return any((canonical_system(c.system), c.code) == PEG_PANEL for c in codings(concept))


#: id(concept) -> (concept, its pain code, whether it is the PEG panel); the concept is
#: kept in the value so that its id cannot be reused while the memo lives.
_CodeMemo: TypeAlias = dict[int, tuple[Any, tuple[str, PainCode] | None, bool]]


def _code_info(
    concept: CodeableConcept | None, memo: _CodeMemo | None
) -> tuple[tuple[str, PainCode] | None, bool]:
    if memo is None:
        return _pain_code(concept), _is_peg_panel(concept)
    hit = memo.get(id(concept))
    if hit is None:
        hit = memo[id(concept)] = (concept, _pain_code(concept), _is_peg_panel(concept))
    return hit[1], hit[2]


def _pain_items(obs: Observation, memo: _CodeMemo | None = None) -> list[tuple[str, PainCode, Any]]:
    """(code, instrument info, element holding the value): the Observation and/or its components."""
    items: list[tuple[str, PainCode, Any]] = []
    own, panel = _code_info(obs.code, memo)
    if own is not None and not panel:
        items.append((own[0], own[1], obs))
    if own is not None or panel:
        for component in obs.component or ():
            found = _code_info(component.code, memo)[0]
            if found is not None and found[0] != (own[0] if own else None):
                items.append((found[0], found[1], component))
    return items


def _value(holder: Any) -> float | None:
    quantity: Quantity | None = holder.valueQuantity
    if quantity is not None and quantity.value is not None:
        return as_float(quantity.value)
    if holder.valueInteger is not None:
        return float(holder.valueInteger)
    concept: CodeableConcept | None = holder.valueCodeableConcept
    if concept is not None:
        return _coded_value(concept)
    return None


def _coded_value(concept: CodeableConcept) -> float | None:
    for coding in concept.coding or ():
        for ext in coding.extension or ():
            if ext.url in _ORDINAL_EXTENSIONS and ext.valueDecimal is not None:
                return as_float(ext.valueDecimal)
        if canonical_system(coding.system) == LOINC and coding.code in LOINC_0_10_ANSWERS:
            return float(LOINC_0_10_ANSWERS[str(coding.code)])
    for text in [c.display for c in concept.coding or ()] + [concept.text]:
        match = _NUMBER.fullmatch(text or "")
        if match:
            return float(match.group(1))
    return None


def _says_zero_to_ten(obs: Observation) -> bool:
    for rr in obs.referenceRange or ():
        if rr.high is not None and rr.high.value is not None and float(rr.high.value) == 10:
            return True
    texts = [obs.code.text or ""] + [c.display or "" for c in codings(obs.code)]
    if obs.valueQuantity is not None:
        texts += [obs.valueQuantity.unit or "", obs.valueQuantity.code or ""]
    return any(_ZERO_TO_TEN.search(t) for t in texts)


def _lab_value(obs: Observation) -> tuple[float | None, str | None]:
    q = obs.valueQuantity
    if q is not None and q.value is not None:
        unit = q.code or q.unit
        return as_float(q.value), str(unit) if unit else None
    if obs.valueString:
        match = re.fullmatch(r"\s*[<>]?=?\s*(\d+(?:\.\d+)?)\s*(\S*)\s*", obs.valueString)
        if match:
            return float(match.group(1)), match.group(2) or None
    return None, None
