"""§6.6 exclusions: age, sickle cell, active cancer, terminal, end of life, setting, pregnancy."""

from __future__ import annotations

from datetime import date, timedelta

from rules.derived.exclusions import ExclusionKind, age_in_years, detect_exclusions
from rules.settings import default_rule_settings
from rules.timeline import (
    ICD10CM,
    SNOMED,
    Code,
    ConditionFact,
    EncounterFact,
    PatientTimeline,
    ProcedureFact,
)

AS_OF = date(2025, 6, 30)
S = default_rule_settings()
ADULT = date(1970, 1, 1)


def timeline(**kw) -> PatientTimeline:
    kw.setdefault("birth_date", ADULT)
    return PatientTimeline(as_of=AS_OF, **kw)


def cond(code: str, system: str = ICD10CM, **kw) -> ConditionFact:
    return ConditionFact(codes=(Code(system, code),), **kw)


def kinds(tl: PatientTimeline, value_sets=None) -> frozenset[str]:
    return detect_exclusions(tl, S, value_sets=value_sets).kinds()


def test_nothing_recorded_is_not_excluded() -> None:
    result = detect_exclusions(timeline(), S)
    assert not result.excluded
    assert not result.pregnant
    assert result.age_years == 55
    assert result.reason.startswith("No scope exclusion found (age 55")


def test_age_17_excluded_18_not() -> None:
    assert age_in_years(date(2007, 7, 1), AS_OF) == 17
    assert age_in_years(date(2007, 6, 30), AS_OF) == 18
    assert ExclusionKind.UNDER_AGE in kinds(timeline(birth_date=date(2007, 7, 1)))
    assert not detect_exclusions(timeline(birth_date=date(2007, 6, 30)), S).excluded


def test_unknown_birth_date_is_reported_not_excluded() -> None:
    result = detect_exclusions(timeline(birth_date=None), S)
    assert result.age_years is None
    assert not result.excluded
    assert "birth date unknown" in result.reason


def test_sickle_cell_even_when_resolved() -> None:
    result = detect_exclusions(timeline(conditions=(cond("D57.1", clinical_status="resolved"),)), S)
    assert result.excluded
    assert ExclusionKind.SICKLE_CELL in result.kinds()
    assert "Outside the CDC 2022 guideline's scope" in result.reason


def test_sickle_cell_from_a_supplied_value_set() -> None:
    vs = {"sickle-cell-diseases": frozenset({(SNOMED, "127040003")})}
    assert ExclusionKind.SICKLE_CELL in kinds(timeline(conditions=(cond("127040003", SNOMED),)), vs)


def test_active_problem_list_cancer_excludes_resolved_does_not() -> None:
    active = cond("C50.911", clinical_status="active", categories=("problem-list-item",))
    resolved = cond("C50.911", clinical_status="resolved", categories=("problem-list-item",))
    assert ExclusionKind.ACTIVE_CANCER in kinds(timeline(conditions=(active,)))
    assert not detect_exclusions(timeline(conditions=(resolved,)), S).excluded


def test_cancer_encounter_diagnoses_need_two_encounters_in_12_months() -> None:
    def dx(ref: str) -> ConditionFact:
        return cond("C34.90", categories=("encounter-diagnosis",), encounter_reference=ref)

    e1 = EncounterFact("Encounter/1", class_code="AMB", start=AS_OF - timedelta(days=100))
    e2 = EncounterFact("Encounter/2", class_code="AMB", start=AS_OF - timedelta(days=30))
    old = EncounterFact("Encounter/3", class_code="AMB", start=AS_OF - timedelta(days=400))
    two = timeline(conditions=(dx("Encounter/1"), dx("Encounter/2")), encounters=(e1, e2))
    one_in_window = timeline(
        conditions=(dx("Encounter/1"), dx("Encounter/3")), encounters=(e1, old)
    )
    assert ExclusionKind.ACTIVE_CANCER in kinds(two)
    assert not detect_exclusions(one_in_window, S).excluded


def test_neoplasm_pain_and_uncertain_behaviour_count_as_cancer() -> None:
    for code in ("G89.3", "D49.9", "D03.9"):
        assert detect_exclusions(timeline(conditions=(cond(code),)), S).excluded, code
    assert not detect_exclusions(timeline(conditions=(cond("D36.9"),)), S).excluded


def test_terminal_and_limited_life_expectancy() -> None:
    assert ExclusionKind.TERMINAL_CONDITION in kinds(timeline(conditions=(cond("K72.10"),)))
    limited = cond("300936002", SNOMED, clinical_status="active")
    assert ExclusionKind.LIMITED_LIFE_EXPECTANCY in kinds(timeline(conditions=(limited,)))


def test_end_of_life_care_within_a_year() -> None:
    recent = ProcedureFact(codes=(Code(SNOMED, "103735009"),), day=AS_OF - timedelta(days=40))
    old = ProcedureFact(codes=(Code(SNOMED, "103735009"),), day=AS_OF - timedelta(days=400))
    assert ExclusionKind.END_OF_LIFE_CARE in kinds(timeline(procedures=(recent,)))
    assert not detect_exclusions(timeline(procedures=(old,)), S).excluded
    z515 = cond("Z51.5", recorded=AS_OF - timedelta(days=10))
    assert ExclusionKind.END_OF_LIFE_CARE in kinds(timeline(conditions=(z515,)))
    hospice = EncounterFact(
        "Encounter/h",
        start=AS_OF - timedelta(days=20),
        end=AS_OF - timedelta(days=15),
        discharge_disposition=(
            Code("http://terminology.hl7.org/CodeSystem/discharge-disposition", "hosp"),
        ),
    )
    assert ExclusionKind.END_OF_LIFE_CARE in kinds(timeline(encounters=(hospice,)))


def test_hospice_findings_are_off_by_default() -> None:
    finding = cond("170935008", SNOMED, recorded=AS_OF - timedelta(days=5))
    assert not detect_exclusions(timeline(conditions=(finding,)), S).excluded
    on = S.with_overrides(use_hospice_findings=True)
    assert detect_exclusions(timeline(conditions=(finding,)), on).excluded


def test_inpatient_or_emergency_context_excluded_ambulatory_not() -> None:
    ed = EncounterFact("Encounter/ed", class_code="EMER", start=AS_OF)
    amb = EncounterFact("Encounter/amb", class_code="AMB", start=AS_OF)
    assert ExclusionKind.NON_AMBULATORY_CONTEXT in kinds(timeline(context_encounter=ed))
    assert not detect_exclusions(timeline(context_encounter=amb), S).excluded


def test_pregnancy_is_flagged_separately() -> None:
    preg = cond("Z34.90", clinical_status="active", recorded=AS_OF - timedelta(days=60))
    result = detect_exclusions(timeline(conditions=(preg,)), S)
    assert result.pregnant
    assert not result.excluded
    assert "specialist-referral" in result.reason
    old = cond("Z34.90", clinical_status="active", recorded=AS_OF - timedelta(days=400))
    assert not detect_exclusions(timeline(conditions=(old,)), S).pregnant


def test_refuted_conditions_never_exclude() -> None:
    refuted = cond("D57.1", verification_status="entered-in-error")
    assert not detect_exclusions(timeline(conditions=(refuted,)), S).excluded


def test_missing_value_sets_are_reported() -> None:
    result = detect_exclusions(timeline(), S)
    assert "sickle-cell-diseases" in result.missing_value_sets
