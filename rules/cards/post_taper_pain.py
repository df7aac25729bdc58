"""Auxiliary card: pain rising during a taper.

CDC 2022: pain may increase during tapering (hyperalgesia or withdrawal) and usually
improves over time; do not reverse a taper without assessment. *When* the dose fell
recently and pain rose since, *then* say so as information (card A stays silent: a
post-taper rise is expected, largely withdrawal-mediated and transient).
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.assessment import Assessment
from rules.cards.base import CardRule, Outcome, build_finding, gate, meta, mme, silent, suggestion
from rules.cards.numbers import pain_short, pain_table
from rules.findings import Finding, RuleDecision, Severity, SuggestionKind

MODULE = "post_taper_pain"
TOPIC = "post-taper-pain"


def evaluate(a: Assessment, fired: Mapping[str, Finding]) -> Outcome:
    blocked = gate(a)
    if blocked:
        return silent(TOPIC, blocked)
    if not a.taper.recent_taper:
        return silent(TOPIC, a.taper.reason)
    pain = a.taper_pain
    if pain is None or pain.rising is not True:
        return silent(
            TOPIC, "Recent taper, but " + (pain.rising_reason if pain else "no pain data.")
        )
    taper = a.taper
    summary = (
        f"Pain rising during opioid taper (MME {mme(taper.prior_mme.value)}→"
        f"{mme(taper.recent_mme.value)}; pain {pain_short(pain)}). Consider slowing, not reversing."
    )
    detail = [
        f"Why: {taper.reason} {pain.rising_reason}",
        meta(MODULE).texts["why"],
        pain_table(pain),
    ]
    finding = build_finding(
        MODULE,
        Severity.INFO,
        summary,
        detail,
        [suggestion(MODULE, SuggestionKind.ORDER_PEG_REASSESSMENT)],
    )
    return Outcome(RuleDecision(TOPIC, True, f"{taper.reason} {pain.rising_reason}"), finding)


RULE = CardRule(TOPIC, MODULE, evaluate)
