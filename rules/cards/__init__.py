"""The card rules, in evaluation order, and the function that runs them all.

Later rules may look at the findings of earlier ones (rotation follows the OIH card;
naloxone accompanies any other card). Each rule has a module (logic) and a YAML file
(texts, links, override reasons, and the scenario cases where it must fire and must
stay silent) side by side in this package.
"""

from __future__ import annotations

from rules.assessment import Assessment
from rules.cards import (
    avoid_escalation,
    consider_rotation,
    mme_incomplete,
    offer_naloxone,
    oih_evaluate,
    post_taper_pain,
    pregnancy_specialist,
    reassess_pain,
)
from rules.cards.base import CardRule
from rules.findings import Finding, RuleDecision

RULES: tuple[CardRule, ...] = (
    mme_incomplete.RULE,
    oih_evaluate.RULE,
    avoid_escalation.RULE,
    consider_rotation.RULE,
    reassess_pain.RULE,
    post_taper_pain.RULE,
    pregnancy_specialist.RULE,
    offer_naloxone.RULE,
)

_ids = [rule.topic for rule in RULES]
if len(set(_ids)) != len(_ids):  # pragma: no cover - a programming error, caught at import
    raise RuntimeError(f"duplicate card topics: {_ids}")
for _rule in RULES:
    if _rule.meta.topic != _rule.topic:  # pragma: no cover
        raise RuntimeError(f"{_rule.module}.yaml has topic {_rule.meta.topic}, not {_rule.topic}")


def evaluate_cards(assessment: Assessment) -> tuple[list[Finding], list[RuleDecision]]:
    """Run every rule once; return the findings (cards to show) and every decision."""
    fired: dict[str, Finding] = {}
    decisions: list[RuleDecision] = []
    for rule in RULES:
        outcome = rule.evaluate(assessment, fired)
        decisions.append(outcome.decision)
        if outcome.finding is not None:
            fired[rule.topic] = outcome.finding
    return list(fired.values()), decisions
