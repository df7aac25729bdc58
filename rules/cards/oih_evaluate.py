"""Card A: evaluate for possible opioid-induced hyperalgesia.

FDA (2023): OIH presents as "increased levels of pain upon opioid dosage increase".
*When* a patient on long-term opioid therapy had a meaningful dose escalation and pain
rose clinically meaningfully afterwards, not explained by a recent taper or an acute
event, *then* suggest evaluating for possible OIH (never a diagnosis), and avoiding
further escalation. Critical when myoclonus, seizure or delirium is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.assessment import Assessment
from rules.cards.base import CardRule, Outcome, build_finding, gate, meta, silent, suggestion
from rules.cards.numbers import dose_short, dose_table, pain_short, pain_table
from rules.findings import Finding, RuleDecision, Severity, SuggestionKind

MODULE = "oih_evaluate"
TOPIC = "oih-evaluate"


def pattern_present(a: Assessment) -> tuple[bool, str]:
    """The OIH phenotype itself (used by cards A, B and C)."""
    if not a.ltot.ltot:
        return False, a.ltot.reason
    esc = a.escalation
    if not (esc.escalated or esc.repeated):
        return False, esc.reason
    if a.pain.rising is not True:
        return False, a.pain.rising_reason
    if a.taper.recent_taper:
        return False, "A recent taper explains a pain rise better (see post-taper card): " + (
            a.taper.reason
        )
    return True, (
        f"Long-term opioid therapy, dose escalation ({esc.reason}) and rising pain "
        f"({a.pain.rising_reason})."
    )


def evaluate(a: Assessment, fired: Mapping[str, Finding]) -> Outcome:
    blocked = gate(a)
    if blocked:
        return silent(TOPIC, blocked)
    present, why = pattern_present(a)
    if not present:
        return silent(TOPIC, why)
    texts = meta(MODULE).texts
    severity = Severity.WARNING
    notes: list[str] = []
    if a.acute.present:
        if a.acute.action == "suppress":
            return silent(TOPIC, f"Pattern present, but {a.acute.reason}")
        severity = Severity.INFO
        events = "; ".join(e.description for e in a.acute.events)
        notes.append(texts["acute_downgrade"].format(events=events))
        if a.modifiers.renal_impairment.present and a.renal_risk_opioid:
            severity = Severity.WARNING
    neuro = a.modifiers.neuroexcitation
    if neuro.present:
        severity = Severity.CRITICAL
        described = "; ".join(f.description for f in neuro.findings)
        notes.insert(0, texts["neuro_excitation"].format(findings=described))
    if a.modifiers.renal_impairment.present and a.renal_risk_opioid:
        notes.append(texts["renal"])
    if a.modifiers.opioid_use_disorder.present:
        notes.append(texts["oud"])
        if a.on_methadone:
            notes.append(texts["methadone_counted"])
    summary = (
        f"Pain ↑ after opioid dose ↑ (MME {dose_short(a)}; pain {pain_short(a.pain)}). "
        "Evaluate for possible opioid-induced hyperalgesia."
    )
    if severity is Severity.CRITICAL:
        summary = (
            f"Myoclonus/seizure/delirium with pain ↑ after dose ↑ (MME {dose_short(a)}): "
            "urgent review for opioid neurotoxicity or OIH."
        )
    detail = [
        "The record shows a **pattern consistent with possible opioid-induced "
        "hyperalgesia (OIH)**: pain rose after the opioid dose was increased.",
        *notes,
        dose_table(a),
        pain_table(a.pain),
        texts["differential"],
        texts["next_steps"],
    ]
    finding = build_finding(
        MODULE,
        severity,
        summary,
        detail,
        [
            suggestion(MODULE, SuggestionKind.DOCUMENT_OIH_NOT_SUSPECTED),
            suggestion(MODULE, SuggestionKind.ORDER_PEG_REASSESSMENT),
            suggestion(MODULE, SuggestionKind.REFER_PAIN_MEDICINE),
        ],
    )
    return Outcome(RuleDecision(TOPIC, True, why), finding)


RULE = CardRule(TOPIC, MODULE, evaluate)
