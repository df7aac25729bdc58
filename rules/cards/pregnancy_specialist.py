"""Auxiliary card: pregnancy recorded, so opioid dose decisions need a specialist.

CDC 2022 advises specialist involvement for tapering in pregnancy. *When* an active
pregnancy is recorded (spec §6.6: a modifier, not a scope exclusion) and the patient is
on opioids or an opioid is being ordered, *then* cards A-C stay silent and this card
says why and suggests a specialist referral instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.assessment import Assessment
from rules.cards.base import CardRule, Outcome, build_finding, meta, silent, suggestion
from rules.findings import Finding, RuleDecision, Severity, SuggestionKind

MODULE = "pregnancy_specialist"
TOPIC = "pregnancy-specialist"


def evaluate(a: Assessment, fired: Mapping[str, Finding]) -> Outcome:
    if a.exclusions.excluded:
        return silent(TOPIC, a.exclusions.reason)
    if not a.exclusions.pregnant:
        return silent(TOPIC, "No active pregnancy recorded.")
    if not a.has_opioids:
        return silent(TOPIC, "Pregnancy recorded, but no opioid orders or opioid drafts.")
    finding = build_finding(
        MODULE,
        Severity.INFO,
        "Pregnancy recorded: plan opioid dose changes with the obstetric team and a pain "
        "or addiction specialist.",
        [meta(MODULE).texts["why"]],
        [suggestion(MODULE, SuggestionKind.REFER_PAIN_MEDICINE)],
    )
    return Outcome(RuleDecision(TOPIC, True, a.exclusions.reason), finding)


RULE = CardRule(TOPIC, MODULE, evaluate)
