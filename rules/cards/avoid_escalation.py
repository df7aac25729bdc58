"""Card B: avoid further opioid dose escalation.

CDC 2022 Rec 4: "avoid increasing dosage above levels likely to yield diminishing
returns in benefits relative to risks"; pause and reassess before 50 MME/day or more.
*When* a draft order raises the total daily MME (order-select, order-sign) and the OIH
pattern is present, an earlier escalation brought no improvement, a benzodiazepine is
on record, or the new total reaches 50 (info) or the high-dose threshold (warning),
*then* advise against escalating. On patient-view (retrospective): an escalation
without benefit.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.assessment import Assessment, HookKind
from rules.cards.base import CardRule, Outcome, build_finding, gate, meta, mme, silent, suggestion
from rules.cards.numbers import dose_table, pain_table
from rules.cards.oih_evaluate import pattern_present
from rules.findings import Finding, RuleDecision, Severity, SuggestionKind, SuggestionSpec

MODULE = "avoid_escalation"
TOPIC = "avoid-escalation"


def _no_benefit_after_previous(a: Assessment) -> bool:
    hist = a.history_escalation
    return bool(hist.steps or hist.escalated) and a.pain.no_improvement is True


def evaluate(a: Assessment, fired: Mapping[str, Finding]) -> Outcome:
    blocked = gate(a)
    if blocked:
        return silent(TOPIC, blocked)
    settings = a.settings
    pattern, _ = pattern_present(a)
    no_benefit = _no_benefit_after_previous(a)
    total = a.total_mme
    reasons: list[str] = []
    severity: Severity | None = None
    if a.hook is HookKind.ORDER:
        if pattern:
            severity = Severity.WARNING
            reasons.append("the OIH pattern is present")
        if no_benefit:
            severity = Severity.WARNING
            reasons.append("pain did not improve after the previous escalation")
        if total >= settings.mme_high:
            severity = Severity.WARNING
            reasons.append(
                f"the new total reaches {mme(total)} MME/day (≥{mme(settings.mme_high)})"
            )
        elif total >= settings.mme_reassess:
            severity = severity or Severity.INFO
            reasons.append(
                f"the new total reaches {mme(total)} MME/day (≥{mme(settings.mme_reassess)})"
            )
        if severity is not None and a.benzodiazepine.present:
            severity = Severity.WARNING
            reasons.append("a benzodiazepine is on record")
        if severity is None:
            return silent(
                TOPIC,
                f"The draft raises the total to {mme(total)} MME/day, below "
                f"{mme(settings.mme_reassess)}, with no escalation without benefit on record.",
            )
    else:
        if not a.history_escalation.escalated:
            return silent(TOPIC, a.history_escalation.escalated_reason)
        if not (pattern or a.pain.no_improvement is True):
            judged = (
                "too few pain scores to judge the benefit"
                if a.pain.no_improvement is None
                else "pain improved afterwards"
            )
            return silent(TOPIC, f"Escalated, but {judged}: {a.pain.no_improvement_reason}")
        severity = Severity.WARNING
        reasons.append(
            "the dose was escalated and "
            + ("the OIH pattern is present" if pattern else "pain did not improve afterwards")
        )
    texts = meta(MODULE).texts
    if a.hook is HookKind.ORDER:
        summary = (
            f"This order raises opioid dose to {mme(total)} MME/day "
            f"(from {mme(a.mme.current.value)}). Consider not escalating further."
        )
    else:
        summary = (
            f"Opioid dose rose to {mme(a.history_escalation.current_mme.value)} MME/day without "
            "pain benefit. Avoid further escalation."
        )
    detail = [
        "Why: " + "; ".join(reasons) + ".",
        dose_table(a),
        pain_table(a.pain),
        texts["rec4"],
        texts["evidence"],
    ]
    if a.benzodiazepine.present:
        detail.append(texts["benzodiazepine"])
    detail.append(texts["reduction"])
    suggestions: list[SuggestionSpec] = []
    if a.hook is HookKind.ORDER:
        for draft in a.draft_opioids:
            suggestions.append(
                suggestion(MODULE, SuggestionKind.KEEP_CURRENT_DOSE, target=draft.mme.reference)
            )
        suggestions.append(suggestion(MODULE, SuggestionKind.PROCEED_DOCUMENTED))
    finding = build_finding(MODULE, severity, summary, detail, suggestions)
    return Outcome(RuleDecision(TOPIC, True, "Fires because " + "; ".join(reasons) + "."), finding)


RULE = CardRule(TOPIC, MODULE, evaluate)
