"""Auxiliary card: the daily MME could not be computed, so the dose rules stay silent.

Spec D1.4 and §6.7 item 10: do not fire dose-based cards when MME quality is
incomplete, and say so explicitly rather than guess. *When* any opioid order in the
look-back (or a draft) has no computable MME, *then* list each one and why.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.assessment import Assessment
from rules.cards.base import CardRule, Outcome, build_finding, meta, silent
from rules.findings import Finding, RuleDecision, Severity

MODULE = "mme_incomplete"
TOPIC = "mme-incomplete"


def evaluate(a: Assessment, fired: Mapping[str, Finding]) -> Outcome:
    if a.exclusions.excluded:
        return silent(TOPIC, a.exclusions.reason)
    if not a.incomplete:
        if not a.has_opioids:
            return silent(TOPIC, "No opioid orders to compute.")
        return silent(TOPIC, "MME was computed for every opioid order.")
    count = len(a.incomplete)
    plural = "s" if count > 1 else ""
    summary = (
        f"Daily MME could not be computed for {count} opioid order{plural}; "
        "dose-escalation checks are off for this patient."
    )
    rows = ["| Order | Medication | Why not computed |", "|---|---|---|"]
    for item in a.incomplete:
        name = item.mme.product_name or item.mme.ingredient or "unidentified medication"
        problem = (item.mme.problem or "unknown").replace("|", "/")
        rows.append(f"| {item.mme.source.value} | {name.replace('|', '/')} | {problem} |")
    detail = [meta(MODULE).texts["why"], "\n".join(rows)]
    finding = build_finding(MODULE, Severity.INFO, summary, detail)
    reasons = "; ".join(item.mme.problem or "unknown" for item in a.incomplete)
    return Outcome(RuleDecision(TOPIC, True, f"Not computed: {reasons}"), finding)


RULE = CardRule(TOPIC, MODULE, evaluate)
