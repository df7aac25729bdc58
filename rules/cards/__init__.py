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
from rules.snooze import NO_SNOOZES, Snoozes, annotate, hides, snoozing_suggestion

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


def evaluate_cards(
    assessment: Assessment, snoozes: Snoozes = NO_SNOOZES
) -> tuple[list[Finding], list[RuleDecision]]:
    """Run every rule once; return the findings (cards to show) and every decision.

    A card hidden by an active snooze counts as not fired, so the rules after it see
    it silent too (see ``rules.snooze``).
    """
    fired: dict[str, Finding] = {}
    decisions: list[RuleDecision] = []
    for rule in RULES:
        outcome = rule.evaluate(assessment, fired)
        finding = outcome.finding
        if finding is not None and snoozing_suggestion(finding) is not None:
            until = hides(finding, snoozes)
            if until is not None:
                decisions.append(
                    RuleDecision(
                        rule.topic,
                        False,
                        f"Snoozed until {until.isoformat()}: a clinician documented that "
                        f"this was evaluated. The rule's own decision: {outcome.decision.reason}",
                    )
                )
                continue
            finding = annotate(finding, snoozes, rule.meta.texts)
        decisions.append(outcome.decision)
        if finding is not None:
            fired[rule.topic] = finding
    return list(fired.values()), decisions
