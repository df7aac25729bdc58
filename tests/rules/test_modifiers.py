"""§6.8 risk modifiers: neuro-excitation, renal, QTc, dose bands, OUD, overdose, medications."""

from __future__ import annotations

from datetime import date, timedelta

from rules.assessment import oud_reason_test
from rules.derived.modifiers import (
    assess_qtc,
    concurrent_benzodiazepine,
    detect_risk_modifiers,
    dose_band,
    naloxone_on_file,
)
from rules.settings import default_rule_settings
from rules.timeline import (
    ICD10CM,
    RXNORM,
    SNOMED,
    Code,
    ConditionFact,
    LabResult,
    MedicationOrder,
    OrderSource,
    PatientTimeline,
)

AS_OF = date(2025, 6, 30)
S = default_rule_settings()


def ago(days: int) -> date:
    return AS_OF - timedelta(days=days)


def cond(code: str, system: str = ICD10CM, **kw) -> ConditionFact:
    return ConditionFact(codes=(Code(system, code),), **kw)


def mods(**kw):
    return detect_risk_modifiers(PatientTimeline(as_of=AS_OF, **kw), S)


def test_nothing_recorded() -> None:
    result = mods()
    assert result.present() == ()
    assert result.qtc.band == "unknown"


def test_neuroexcitation_within_30_days_counts_31_does_not() -> None:
    assert mods(conditions=(cond("17450006", SNOMED, onset=ago(30)),)).neuroexcitation.present
    assert not mods(conditions=(cond("G25.3", onset=ago(31)),)).neuroexcitation.present
    seizure = mods(conditions=(cond("R56.9", recorded=ago(3)),)).neuroexcitation
    assert seizure.present
    assert "urgent review" in seizure.reason


def test_renal_impairment_by_egfr_boundary_and_by_condition() -> None:
    def egfr(value: float) -> LabResult:
        return LabResult("98979-8", value, "mL/min/{1.73_m2}", ago(20))

    assert mods(labs=(egfr(29.9),)).renal_impairment.present
    normal = mods(labs=(egfr(30),)).renal_impairment
    assert not normal.present
    assert "latest eGFR 30" in normal.reason
    assert mods(conditions=(cond("N18.5"),)).renal_impairment.present
    assert not mods(conditions=(cond("N18.3"),)).renal_impairment.present


def test_latest_egfr_wins() -> None:
    labs = (LabResult("98979-8", 25, None, ago(100)), LabResult("98979-8", 45, None, ago(10)))
    assert not mods(labs=labs).renal_impairment.present


def test_qtc_bands() -> None:
    def band(value: float) -> str:
        return assess_qtc([LabResult("8636-3", value, "ms", ago(5))], AS_OF, S).band

    assert band(449) == "normal"
    assert band(450) == "caution"
    assert band(500) == "caution"
    assert band(501) == "avoid_methadone"


def test_dose_bands() -> None:
    assert dose_band(49.9, S).band == "below_reassess"
    assert dose_band(50, S).band == "reassess"
    assert dose_band(90, S).band == "high"
    assert "90 MME/day" in dose_band(90, S).reason


def test_oud_overdose_hepatic_sleep_and_mental_health() -> None:
    result = mods(
        conditions=(
            cond("F11.20", clinical_status="resolved"),
            cond("T40.2X1A", onset=ago(700)),
            cond("K74.60"),
            cond("G47.33"),
            cond("F33.1"),
        )
    )
    assert result.opioid_use_disorder.present  # history counts
    assert result.overdose_history.present
    assert result.hepatic_impairment.present
    assert result.sleep_disordered_breathing.present
    assert result.mental_health_risk.present


def test_adverse_effect_of_an_opioid_is_not_an_overdose() -> None:
    assert not mods(conditions=(cond("T40.2X5A"),)).overdose_history.present


def order(
    days_ago: int,
    code: str,
    *,
    supply: float | None = 30,
    source=OrderSource.REQUEST,
    status="completed",
) -> MedicationOrder:
    return MedicationOrder(
        reference="MedicationRequest/x",
        source=source,
        codes=(Code(RXNORM, code, "drug"),),
        status=status,
        start=ago(days_ago),
        supply_days=supply,
    )


VS = {
    "naloxone-medications": frozenset({(RXNORM, "1725059")}),
    "benzodiazepine-medications": frozenset({(RXNORM, "197527")}),
}


def test_naloxone_within_730_days() -> None:
    tl = PatientTimeline(as_of=AS_OF, orders=(order(700, "1725059", supply=1),))
    assert naloxone_on_file(tl, S, VS).present
    old = PatientTimeline(as_of=AS_OF, orders=(order(731, "1725059", supply=1),))
    assert not naloxone_on_file(old, S, VS).present
    draft = PatientTimeline(
        as_of=AS_OF, drafts=(order(0, "1725059", source=OrderSource.DRAFT, status="draft"),)
    )
    assert naloxone_on_file(draft, S, VS).present


def test_naloxone_without_value_set_says_so() -> None:
    result = naloxone_on_file(PatientTimeline(as_of=AS_OF), S)
    assert not result.present
    assert "value set not supplied" in result.reason


def test_benzodiazepine_covering_the_last_90_days() -> None:
    current = PatientTimeline(as_of=AS_OF, orders=(order(100, "197527", supply=30),))
    assert concurrent_benzodiazepine(current, S, VS).present  # covers days −100..−71
    stale = PatientTimeline(as_of=AS_OF, orders=(order(130, "197527", supply=30),))
    assert not concurrent_benzodiazepine(stale, S, VS).present
    cancelled = PatientTimeline(as_of=AS_OF, orders=(order(10, "197527", status="cancelled"),))
    assert not concurrent_benzodiazepine(cancelled, S, VS).present


def test_an_order_for_opioid_use_disorder_is_told_by_its_reason_codes() -> None:
    for_oud = oud_reason_test()

    def order(*reasons: Code) -> MedicationOrder:
        return MedicationOrder("MedicationRequest/1", OrderSource.REQUEST, (), reasons=reasons)

    assert for_oud(order(Code(ICD10CM, "F11.20")))
    assert for_oud(order(Code(SNOMED, "5602001")))
    assert for_oud(order(Code(ICD10CM, "G89.4"), Code(ICD10CM, "F11.21")))
    assert not for_oud(order(Code(ICD10CM, "G89.4")))  # chronic pain syndrome
    assert not for_oud(order())
