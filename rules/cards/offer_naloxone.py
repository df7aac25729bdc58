"""Auxiliary card: offer naloxone.

CDC 2022 Rec 8: offer naloxone when overdose risk is increased (50 MME/day or more,
benzodiazepines, opioid use disorder, overdose history, sleep-disordered breathing).
*When* another card fires, a risk factor is present and no naloxone is on file within
two years, *then* offer an order for naloxone nasal spray.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.assessment import Assessment
from rules.cards.base import (
    MAX_SUMMARY,
    CardRule,
    Outcome,
    build_finding,
    meta,
    mme,
    silent,
    suggestion,
)
from rules.findings import Finding, RuleDecision, Severity, SuggestionKind

MODULE = "offer_naloxone"
TOPIC = "offer-naloxone"
COMPANIONS = (
    "oih-evaluate",
    "avoid-escalation",
    "consider-rotation",
    "reassess-pain",
    "post-taper-pain",
    "pregnancy-specialist",
)


def _risk_factors(a: Assessment) -> list[tuple[str, str]]:
    """(short label for the summary, full phrase for the detail), most important first."""
    factors: list[tuple[str, str]] = []
    mods = a.modifiers
    if mods.overdose_history.present:
        factors.append(("prior overdose", "a history of overdose"))
    if a.total_mme >= a.settings.mme_reassess:
        factors.append((f"{mme(a.total_mme)} MME/day", f"{mme(a.total_mme)} MME/day"))
    if a.benzodiazepine.present:
        factors.append(("benzodiazepine", "a benzodiazepine"))
    if mods.opioid_use_disorder.present:
        factors.append(("OUD", "opioid use disorder"))
    if mods.sleep_disordered_breathing.present:
        factors.append(("sleep apnoea", "sleep-disordered breathing"))
    if a.taper.recent_taper:
        factors.append(("recent taper", "a recent taper (tolerance may be lost)"))
    return factors


def _summary(short: list[str]) -> str:
    """Name as many risk factors as fit in the summary; never cut one in half."""
    for count in range(len(short), 0, -1):
        shown = ", ".join(short[:count])
        more = len(short) - count
        suffix = f" +{more} more" if more else ""
        text = f"No naloxone on file; overdose risk: {shown}{suffix}. Offer naloxone."
        if len(text) <= MAX_SUMMARY:
            return text
    return "No naloxone on file and overdose risk is raised. Offer naloxone."


def evaluate(a: Assessment, fired: Mapping[str, Finding]) -> Outcome:
    if not any(topic in fired for topic in COMPANIONS):
        return silent(TOPIC, "Offered only alongside another opioid card, and none fired.")
    if a.naloxone.present:
        return silent(TOPIC, "Naloxone is on file: " + a.naloxone.reason)
    factors = _risk_factors(a)
    if not factors:
        return silent(TOPIC, "No overdose risk factor that calls for naloxone (CDC Rec 8).")
    urgent = (
        a.modifiers.overdose_history.present
        or a.benzodiazepine.present
        or a.total_mme >= a.settings.mme_high
    )
    severity = Severity.WARNING if urgent else Severity.INFO
    listed = ", ".join(full for _, full in factors)
    summary = _summary([short for short, _ in factors])
    detail = [
        f"Risk factors in the record: {listed}. No naloxone order or dispense in the last "
        f"{a.settings.naloxone_lookback_days} days.",
        meta(MODULE).texts["why"],
    ]
    finding = build_finding(
        MODULE, severity, summary, detail, [suggestion(MODULE, SuggestionKind.ORDER_NALOXONE)]
    )
    return Outcome(
        RuleDecision(TOPIC, True, f"Risk factors: {listed}; no naloxone on file."), finding
    )


RULE = CardRule(TOPIC, MODULE, evaluate)
