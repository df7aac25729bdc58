"""The scenario suite: each clinical timeline fires exactly the cards its story expects.

Scenarios live in service/scenarios/data (FHIR R4, dates relative to the run day); each
names the card topics that must fire and must stay silent, and sometimes the indicator.
"""

from __future__ import annotations

from typing import Any

import pytest

from rules.cards import RULES
from service.scenarios import list_scenarios
from tests.factories import assert_explain_order

SCENARIOS = list_scenarios()


def topics(result: dict[str, Any]) -> dict[str, str]:
    return {card["source"]["topic"]["code"]: card["indicator"] for card in result["cards"]}


def test_the_suite_is_large_enough_and_covers_every_hook() -> None:
    assert len(SCENARIOS) >= 40
    assert {info.hook for info in SCENARIOS} >= {"patient-view", "order-sign"}


@pytest.mark.parametrize("info", SCENARIOS, ids=[i.name for i in SCENARIOS])
def test_scenario_fires_exactly_what_it_expects(
    info: Any, scenario_results: dict[str, dict[str, Any]]
) -> None:
    result = scenario_results[info.name]
    fired = topics(result)
    reasons = {d["id"]: d["reason"] for d in result["evaluation"]["rules"]}
    for topic in info.fires:
        assert topic in fired, f"{topic} should fire: {reasons.get(topic)}"
    for topic in info.silent:
        assert topic not in fired, f"{topic} should stay silent: {reasons.get(topic)}"
    for topic, indicator in (info.indicators or {}).items():
        assert fired.get(topic) == indicator, f"{topic}: {fired.get(topic)} != {indicator}"


@pytest.mark.parametrize("info", SCENARIOS, ids=[i.name for i in SCENARIOS])
def test_every_rule_decision_is_explained(
    info: Any, scenario_results: dict[str, dict[str, Any]]
) -> None:
    result = scenario_results[info.name]
    decisions = result["evaluation"]["rules"]
    assert {d["id"] for d in decisions} == {rule.topic for rule in RULES}
    for decision in decisions:
        assert decision["reason"].strip(), decision
    fired = {d["id"] for d in decisions if d["fired"]}
    assert fired == set(topics(result))


def test_exclusions_silence_every_card(scenario_results: dict[str, dict[str, Any]]) -> None:
    excluded = [i for i in SCENARIOS if i.name.startswith("exclusion-")]
    assert len(excluded) >= 8
    for info in excluded:
        result = scenario_results[info.name]
        assert result["cards"] == [], info.name
        assert result["evaluation"]["derived"]["exclusions"]["excluded"], info.name


def test_synthea_like_draft_that_lowers_dose_is_silent_on_both_order_hooks(
    scenario_results: dict[str, dict[str, Any]],
) -> None:
    for key in ("draft-dose-reduction", "draft-dose-reduction@order-select"):
        assert scenario_results[key]["cards"] == [], key


def test_order_select_agrees_with_order_sign(scenario_results: dict[str, dict[str, Any]]) -> None:
    """Both order hooks judge the same drafts; only the hook differs."""
    pairs = [k for k in scenario_results if k.endswith("@order-select")]
    assert pairs
    for key in pairs:
        name = key.removesuffix("@order-select")
        assert set(topics(scenario_results[key])) == set(topics(scenario_results[name])), name


def test_explain_reports_mme_fields_for_every_scenario(
    scenario_results: dict[str, dict[str, Any]],
) -> None:
    for name, result in scenario_results.items():
        mme = result["evaluation"]["mme"]
        assert mme["unit"] == "{MME}/d"
        assert isinstance(mme["complete"], bool)
        assert len(mme["timeline"]) == 365, name
        for order in mme["orders"]:
            assert_explain_order(order)


def test_silent_reasons_do_not_claim_a_benefit_that_was_not_measured(
    scenario_results: dict[str, dict[str, Any]],
) -> None:
    """Without enough pain scores, the escalation card's reason says so (no false benefit)."""
    result = scenario_results["no-pain-since-increase"]
    decision = next(d for d in result["evaluation"]["rules"] if d["id"] == "avoid-escalation")
    assert not decision["fired"]
    assert "improved" not in decision["reason"]


def test_counted_methadone_beside_oud_is_flagged_on_the_oih_card(
    scenario_results: dict[str, dict[str, Any]],
) -> None:
    """Methadone with no reason coded may still be for OUD: the card says so, not guesses."""

    def oih_detail(name: str) -> str:
        cards = scenario_results[name]["cards"]
        return str(
            next(c for c in cards if c["source"]["topic"]["code"] == "oih-evaluate")["detail"]
        )

    note = "Methadone is counted here as treatment for pain"
    assert note in oih_detail("methadone-pain-with-oud")
    assert note not in oih_detail("methadone-qtc-510")  # no OUD on record
    assert note not in oih_detail("methadone-dispersible-otp")  # methadone excluded as MOUD
