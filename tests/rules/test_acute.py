"""D7: surgery, injury or ED/inpatient stay from 30 days before the post window to its end."""

from __future__ import annotations

from datetime import date

from rules.derived.acute import assess_acute_confounders
from rules.derived.common import DateWindow
from rules.settings import default_rule_settings
from rules.timeline import ICD10CM, SNOMED, Code, ConditionFact, EncounterFact, ProcedureFact

AS_OF = date(2025, 6, 30)
POST = DateWindow(date(2025, 5, 15), AS_OF)
S = default_rule_settings()
CPT = "http://www.ama-assn.org/go/cpt"


def run(conditions=(), encounters=(), procedures=(), settings=S, value_sets=None):
    return assess_acute_confounders(
        conditions=conditions,
        encounters=encounters,
        procedures=procedures,
        post_window=POST,
        settings=settings,
        value_sets=value_sets,
    )


def injury(day: date, code: str = "S72.001A") -> ConditionFact:
    return ConditionFact(codes=(Code(ICD10CM, code, "Hip fracture"),), onset=day, reference="c1")


def test_window_is_30_days_before_post_start_to_post_end() -> None:
    result = run()
    assert result.window == DateWindow(date(2025, 4, 15), AS_OF)
    assert not result.present
    assert result.reason.startswith("No surgery, injury or ED/inpatient stay")


def test_injury_on_day_minus_30_counts_minus_31_does_not() -> None:
    assert run(conditions=[injury(date(2025, 4, 15))]).present
    assert not run(conditions=[injury(date(2025, 4, 14))]).present


def test_injury_codes_are_s_and_t_injuries_not_poisonings() -> None:
    assert run(conditions=[injury(date(2025, 5, 20), "T22.011A")]).present  # burn
    assert not run(conditions=[injury(date(2025, 5, 20), "T40.2X1A")]).present  # poisoning
    assert not run(conditions=[injury(date(2025, 5, 20), "M54.5")]).present


def test_refuted_or_undated_injury_does_not_count() -> None:
    refuted = ConditionFact(
        codes=(Code(ICD10CM, "S82.101A"),), onset=date(2025, 5, 20), verification_status="refuted"
    )
    undated = ConditionFact(codes=(Code(ICD10CM, "S82.101A"),))
    assert not run(conditions=[refuted, undated]).present


def test_surgery_by_cpt_snomed_or_local_value_set() -> None:
    knee = ProcedureFact(
        codes=(Code(CPT, "27447", "Total knee arthroplasty"),), day=date(2025, 6, 1)
    )
    result = run(procedures=[knee])
    assert result.present
    assert result.events[0].kind == "surgery"
    assert "Total knee arthroplasty (CPT 27447)" in result.reason
    office = ProcedureFact(codes=(Code(CPT, "99213"),), day=date(2025, 6, 1))
    assert not run(procedures=[office]).present
    local = ProcedureFact(codes=(Code(SNOMED, "123"),), day=date(2025, 6, 1))
    assert run(
        procedures=[local], value_sets={"surgical-procedures": frozenset({(SNOMED, "123")})}
    ).present


def test_procedure_not_done_does_not_count() -> None:
    knee = ProcedureFact(codes=(Code(CPT, "27447"),), day=date(2025, 6, 1), status="not-done")
    assert not run(procedures=[knee]).present


def test_emergency_and_inpatient_encounters() -> None:
    ed = EncounterFact("Encounter/ed", class_code="EMER", start=date(2025, 6, 10))
    stay = EncounterFact(
        "Encounter/ip", class_code="IMP", start=date(2025, 4, 1), end=date(2025, 4, 20)
    )
    old = EncounterFact(
        "Encounter/old", class_code="IMP", start=date(2025, 3, 1), end=date(2025, 3, 5)
    )
    office = EncounterFact("Encounter/amb", class_code="AMB", start=date(2025, 6, 10))
    result = run(encounters=[ed, stay, old, office])
    assert result.present
    assert [e.reference for e in result.events] == ["Encounter/ip", "Encounter/ed"]
    assert "emergency visit from 2025-06-10" in result.reason


def test_action_comes_from_settings() -> None:
    assert run().action == "downgrade"
    assert run(settings=S.with_overrides(acute_confounder_action="suppress")).action == "suppress"
