"""§6.6: who the CDC 2022 guideline does not cover, so no OIH card may fire.

Scope exclusions (suppress all cards): age <18, sickle cell disease, active cancer
treatment or cancer-related pain, conditions likely terminal, limited life expectancy,
hospice/palliative/end-of-life care, and a non-ambulatory hook context [R1, R5, R6]
(spec §6.7 item 6). Detection follows the CQF "CDC 2022 Guideline General Inclusion
Criteria" and "End of Life Assessment" [R6]. Pregnancy is reported separately: it
suppresses cards A–C in favour of a specialist-referral info card (J).
MOUD (buprenorphine/methadone for OUD) is a medication question for the MME engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from rules.derived.acute import NOT_DONE_STATUSES
from rules.derived.codematch import ConceptMatcher, ValueSets, concept_matcher
from rules.derived.common import (
    DateWindow,
    RecordFinding,
    condition_day,
    describe_code,
    is_active,
    is_refuted,
)
from rules.settings import CodeLists, RuleSettings
from rules.timeline import ConditionFact, EncounterFact, PatientTimeline, ProcedureFact

__all__ = [
    "ExclusionKind",
    "Exclusions",
    "active_cancer",
    "age_in_years",
    "detect_exclusions",
    "end_of_life_care",
    "matching_conditions",
]


class ExclusionKind(StrEnum):
    UNDER_AGE = "under_age"
    SICKLE_CELL = "sickle_cell"
    ACTIVE_CANCER = "active_cancer"
    TERMINAL_CONDITION = "terminal_condition"
    LIMITED_LIFE_EXPECTANCY = "limited_life_expectancy"
    END_OF_LIFE_CARE = "end_of_life_care"
    NON_AMBULATORY_CONTEXT = "non_ambulatory_context"
    PREGNANCY = "pregnancy"


@dataclass(frozen=True, slots=True)
class Exclusions:
    """``excluded`` = any scope exclusion (suppress every card); ``pregnant`` separately.

    ``findings`` hold one :class:`RecordFinding` per supporting record, with ``kind``
    an :class:`ExclusionKind` value. ``age_years`` is None without a birth date.
    """

    excluded: bool
    pregnant: bool
    age_years: int | None
    findings: tuple[RecordFinding, ...]
    missing_value_sets: tuple[str, ...]
    reason: str

    def kinds(self) -> frozenset[str]:
        return frozenset(f.kind for f in self.findings)


def age_in_years(birth_date: date, as_of: date) -> int:
    """Completed years on ``as_of`` (a 29 February birthday counts from 1 March)."""
    years = as_of.year - birth_date.year
    if (as_of.month, as_of.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def matching_conditions(
    conditions: Iterable[ConditionFact],
    matcher: ConceptMatcher,
    kind: str,
    *,
    active_only: bool,
    window: DateWindow | None = None,
    undated_counts: bool = True,
) -> list[RecordFinding]:
    """Conditions of a concept, never refuted ones; optionally active and/or dated in a window."""
    found = []
    for cond in conditions:
        # The code first: a memoised lookup, and most conditions are of other concepts.
        hit = matcher.first_match(cond.codes)
        if hit is None:
            continue
        if is_refuted(cond) or (active_only and not is_active(cond)):
            continue
        day = condition_day(cond)
        if window is not None and (day not in window if day else not undated_counts):
            continue
        when = f" since {day}" if day else ""
        found.append(RecordFinding(kind, f"{describe_code(hit)}{when}", day, cond.reference, hit))
    return found


def active_cancer(
    conditions: Iterable[ConditionFact],
    encounters: Iterable[EncounterFact],
    as_of: date,
    settings: RuleSettings,
    matcher: ConceptMatcher,
) -> list[RecordFinding]:
    """Active cancer per CQF: an active problem-list/health-concern cancer condition, or
    cancer encounter diagnoses on ≥2 encounters within 12 months.

    A condition without a category is treated as a problem-list entry (CHOICE).
    """
    window = DateWindow.within(as_of, settings.cancer_lookback_days)
    encounters = tuple(encounters)
    enc_by_ref = {e.reference: e for e in encounters}
    enc_by_diagnosis = {ref: e for e in encounters for ref in e.diagnosis_condition_refs}
    problems: list[RecordFinding] = []
    diagnoses: dict[str, RecordFinding] = {}
    kind = ExclusionKind.ACTIVE_CANCER.value
    for cond in conditions:
        hit = matcher.first_match(cond.codes)
        if hit is None or not is_active(cond):
            continue
        cats = {c.lower() for c in cond.categories}
        if not cats or cats & {"problem-list-item", "health-concern"}:
            problems.append(
                RecordFinding(
                    kind, f"{describe_code(hit)} on the problem list", None, cond.reference, hit
                )
            )
        if "encounter-diagnosis" in cats:
            enc = enc_by_ref.get(cond.encounter_reference or "") or enc_by_diagnosis.get(
                cond.reference or ""
            )
            day = (enc.start if enc else None) or condition_day(cond)
            if day is None or day not in window:
                continue
            key = enc.reference if enc else f"day:{day}"
            diagnoses.setdefault(
                key,
                RecordFinding(
                    kind, f"{describe_code(hit)} at an encounter on {day}", day, cond.reference, hit
                ),
            )
    if len(diagnoses) >= settings.cancer_min_encounters:
        return problems + sorted(diagnoses.values(), key=lambda f: f.day or date.min)
    return problems


def end_of_life_care(
    timeline: PatientTimeline,
    settings: RuleSettings,
    value_sets: ValueSets | None,
    codes: CodeLists | None,
) -> tuple[list[RecordFinding], tuple[str, ...]]:
    """Hospice, palliative or end-of-life care within ``end_of_life_lookback_days``:
    Z51.5 conditions, end-of-life procedures/referrals, hospice discharge dispositions,
    and (only if ``use_hospice_findings``) hospice findings. Returns findings and the
    value sets that were not supplied."""
    kind = ExclusionKind.END_OF_LIFE_CARE.value
    window = DateWindow.within(timeline.as_of, settings.end_of_life_lookback_days)
    palliative = concept_matcher("palliative_encounter", value_sets, codes)
    procedure = concept_matcher("end_of_life_procedure", value_sets, codes)
    disposition = concept_matcher("hospice_disposition", value_sets, codes)
    found = matching_conditions(
        timeline.conditions,
        palliative,
        kind,
        active_only=False,
        window=window,
        undated_counts=False,
    )
    missing = list(procedure.missing_value_sets + disposition.missing_value_sets)
    if settings.use_hospice_findings:
        finding = concept_matcher("hospice_finding", value_sets, codes)
        missing += finding.missing_value_sets
        found += matching_conditions(
            timeline.conditions, finding, kind, active_only=True, window=window
        )
    found += _procedures(timeline.procedures, procedure, kind, window)
    for enc in timeline.encounters:
        day = enc.end or enc.start
        if day is None or day not in window:
            continue
        hit = disposition.first_match(enc.discharge_disposition)
        if hit is not None:
            found.append(
                RecordFinding(kind, f"discharged to hospice on {day}", day, enc.reference, hit)
            )
    return found, tuple(missing)


def _procedures(
    procedures: Iterable[ProcedureFact], matcher: ConceptMatcher, kind: str, window: DateWindow
) -> list[RecordFinding]:
    found = []
    for proc in procedures:
        if proc.day is None or proc.day not in window:
            continue
        if (proc.status or "").lower() in NOT_DONE_STATUSES:
            continue
        hit = matcher.first_match(proc.codes)
        if hit is not None:
            found.append(
                RecordFinding(
                    kind, f"{describe_code(hit)} on {proc.day}", proc.day, proc.reference, hit
                )
            )
    return found


def detect_exclusions(
    timeline: PatientTimeline,
    settings: RuleSettings,
    *,
    value_sets: ValueSets | None = None,
    codes: CodeLists | None = None,
) -> Exclusions:
    """All §6.6 exclusions of one patient as of ``timeline.as_of``."""
    as_of = timeline.as_of
    findings: list[RecordFinding] = []
    age = age_in_years(timeline.birth_date, as_of) if timeline.birth_date else None
    if age is not None and age < settings.adult_age_years:
        findings.append(
            RecordFinding(
                ExclusionKind.UNDER_AGE.value,
                f"age {age} (under {settings.adult_age_years})",
                timeline.birth_date,
            )
        )
    ctx = timeline.context_encounter
    if ctx is not None and (ctx.class_code or "").strip().upper() in frozenset(
        settings.non_ambulatory_encounter_classes
    ):
        findings.append(
            RecordFinding(
                ExclusionKind.NON_AMBULATORY_CONTEXT.value,
                f"current encounter is {ctx.class_code} (not ambulatory)",
                ctx.start,
                ctx.reference,
            )
        )
    sickle = concept_matcher("sickle_cell", value_sets, codes)
    cancer = concept_matcher("malignant_cancer", value_sets, codes)
    terminal = concept_matcher("terminal_condition", value_sets, codes)
    limited = concept_matcher("limited_life_expectancy", value_sets, codes)
    pregnancy = concept_matcher("pregnancy", value_sets, codes)
    # Sickle cell disease is assumed active whatever its status (CQF config) [R6].
    findings += matching_conditions(
        timeline.conditions, sickle, ExclusionKind.SICKLE_CELL.value, active_only=False
    )
    findings += active_cancer(timeline.conditions, timeline.encounters, as_of, settings, cancer)
    findings += matching_conditions(
        timeline.conditions, terminal, ExclusionKind.TERMINAL_CONDITION.value, active_only=True
    )
    findings += matching_conditions(
        timeline.conditions,
        limited,
        ExclusionKind.LIMITED_LIFE_EXPECTANCY.value,
        active_only=True,
    )
    eol, eol_missing = end_of_life_care(timeline, settings, value_sets, codes)
    findings += eol
    preg = matching_conditions(
        timeline.conditions,
        pregnancy,
        ExclusionKind.PREGNANCY.value,
        active_only=True,
        window=DateWindow.within(as_of, settings.pregnancy_lookback_days),
    )
    findings += preg
    missing = tuple(
        dict.fromkeys(
            sickle.missing_value_sets
            + cancer.missing_value_sets
            + terminal.missing_value_sets
            + limited.missing_value_sets
            + eol_missing
        )
    )
    scope = [f for f in findings if f.kind != ExclusionKind.PREGNANCY.value]
    if scope:
        listed = "; ".join(f.description for f in scope)
        reason = f"Outside the CDC 2022 guideline's scope, so no opioid card is shown: {listed}."
    elif preg:
        reason = (
            f"Pregnancy recorded ({preg[0].description}): OIH cards are replaced by a "
            "specialist-referral note."
        )
    else:
        age_txt = f"age {age}" if age is not None else "birth date unknown"
        reason = (
            f"No scope exclusion found ({age_txt}; no sickle cell disease, active cancer, "
            "terminal condition, end-of-life care or inpatient/ED context recorded)."
        )
    return Exclusions(bool(scope), bool(preg), age, tuple(findings), missing, reason)
