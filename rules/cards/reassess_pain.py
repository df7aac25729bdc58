"""Auxiliary card: reassess pain and function after a dose increase.

CDC 2022 Rec 7: evaluate benefits and risks within 1-4 weeks of a dose escalation.
*When* the dose was escalated, enough time has passed for a reassessment, and there are
too few pain scores to judge the effect, *then* suggest a PEG reassessment, rather than
inferring a trend from too few scores (spec §6.7 item 9).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from rules.assessment import Assessment
from rules.cards.base import CardRule, Outcome, build_finding, day, gate, meta, silent, suggestion
from rules.cards.numbers import dose_short, dose_table, pain_table
from rules.findings import Finding, RuleDecision, Severity, SuggestionKind

MODULE = "reassess_pain"
TOPIC = "reassess-pain"


def evaluate(a: Assessment, fired: Mapping[str, Finding]) -> Outcome:
    blocked = gate(a)
    if blocked:
        return silent(TOPIC, blocked)
    esc = a.history_escalation
    if not (esc.escalated or esc.repeated):
        return silent(TOPIC, esc.reason)
    if a.pain.rising is not None:
        return silent(TOPIC, "Enough pain scores to judge the escalation: " + a.pain.rising_reason)
    due = esc.anchor + timedelta(days=a.settings.steady_state_lag_days)
    if a.as_of < due:
        return silent(
            TOPIC,
            f"The dose increase on {day(esc.anchor)} is recent; "
            f"reassessment is due from {day(due)}.",
        )
    summary = (
        f"Opioid dose increased on {day(esc.anchor)} (MME {dose_short(a)}); no pain/function "
        "reassessment recorded since."
    )
    detail = [
        f"Why: {a.pain.rising_reason}",
        meta(MODULE).texts["why"],
        dose_table(a),
        pain_table(a.pain),
    ]
    finding = build_finding(
        MODULE,
        Severity.INFO,
        summary,
        detail,
        [suggestion(MODULE, SuggestionKind.ORDER_PEG_REASSESSMENT)],
    )
    return Outcome(
        RuleDecision(TOPIC, True, f"Escalated on {day(esc.anchor)}; {a.pain.rising_reason}"),
        finding,
    )


RULE = CardRule(TOPIC, MODULE, evaluate)
