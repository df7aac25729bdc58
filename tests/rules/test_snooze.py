"""What an active snooze hides, what it never hides, and what the OIH card says about it."""

from __future__ import annotations

from datetime import date
from functools import cache

import pytest

from rules.assessment import Assessment, HookKind, assess
from rules.cards import evaluate_cards
from rules.findings import Finding, Severity
from rules.settings import default_rule_settings
from rules.snooze import NO_SNOOZES, Snoozes, annotate, snoozable
from rules.valuesets import load_value_sets
from service.normalize.timeline import build_timeline
from service.scenarios import build_request
from tests.conftest import FIXED_NOW

AS_OF = FIXED_NOW.date()
UNTIL = date(2027, 2, 1)
OIH = "oih-evaluate"
PROMISE = "hides this card for this patient for 90 days"


@cache
def assessment(scenario: str) -> Assessment:
    body = build_request(scenario, "patient-view", AS_OF)
    timeline = build_timeline(body["prefetch"], None, AS_OF)
    return assess(timeline, default_rule_settings(), HookKind.REVIEW, value_sets=load_value_sets())


def cards(scenario: str, snoozes: Snoozes = NO_SNOOZES) -> dict[str, Finding]:
    findings, _ = evaluate_cards(assessment(scenario), snoozes)
    return {f.topic: f for f in findings}


def snoozed(topic: str = OIH) -> Snoozes:
    return Snoozes(available=True, days=90, until={topic: UNTIL})


def test_without_snoozes_the_classic_pattern_shows_its_four_cards() -> None:
    shown = cards("classic-oih")
    assert set(shown) == {OIH, "avoid-escalation", "consider-rotation", "offer-naloxone"}
    assert PROMISE not in shown[OIH].detail  # no store: no promise


def test_the_oih_card_says_what_documenting_does_before_its_footnote() -> None:
    detail = cards("classic-oih", Snoozes(available=True, days=90))[OIH].detail
    paragraphs = detail.split("\n\n")
    promise = next(i for i, p in enumerate(paragraphs) if PROMISE in p)
    assert "**Document: OIH evaluated, not suspected**" in paragraphs[promise]
    assert promise == len(paragraphs) - 2
    assert paragraphs[-1].startswith("_EHR data may miss")


def test_an_active_snooze_hides_the_oih_card_and_the_rotation_card_that_follows_it() -> None:
    findings, decisions = evaluate_cards(assessment("classic-oih"), snoozed())
    assert {f.topic for f in findings} == {"avoid-escalation", "offer-naloxone"}
    by_id = {d.id: d for d in decisions}
    assert not by_id[OIH].fired
    assert by_id[OIH].reason.startswith("Snoozed until 2027-02-01")
    assert "Long-term opioid therapy" in by_id[OIH].reason  # the rule's own reasoning kept
    assert not by_id["consider-rotation"].fired


def test_escalation_advice_is_not_snoozed_with_the_oih_card() -> None:
    """Avoiding escalation stands even when OIH was evaluated and not suspected (§5.2)."""
    shown = cards("classic-oih", snoozed())
    assert shown["avoid-escalation"].severity is Severity.WARNING


def test_a_critical_card_shows_despite_a_snooze_and_says_so() -> None:
    shown = cards("neuroexcitation-myoclonus", snoozed())
    assert shown[OIH].severity is Severity.CRITICAL
    assert "**Shown despite a snooze** (in force until 2027-02-01)" in shown[OIH].detail
    assert "consider-rotation" in shown


def test_a_snooze_of_another_topic_changes_nothing() -> None:
    plain = cards("classic-oih", Snoozes(available=True, days=90))
    other = cards("classic-oih", snoozed("avoid-escalation"))
    assert other == plain


@pytest.mark.parametrize("scenario", ["classic-oih", "escalation-without-benefit"])
def test_snoozable_names_only_cards_with_a_snoozing_suggestion(scenario: str) -> None:
    findings = list(cards(scenario).values())
    expected = {OIH} if scenario == "classic-oih" else set()
    assert snoozable(findings) == expected


def test_annotate_leaves_cards_without_a_snoozing_suggestion_alone() -> None:
    finding = cards("classic-oih")["avoid-escalation"]
    texts = {"snooze": "x {label} {days}", "snooze_overridden": "y {until}"}
    assert annotate(finding, snoozed("avoid-escalation"), texts) is finding
