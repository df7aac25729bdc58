"""One rule, one place: every card type has logic, metadata and both kinds of case."""

from __future__ import annotations

from typing import Any

import pytest

from rules.cards import RULES
from service.scenarios import list_scenarios

NAMES = {info.name for info in list_scenarios()}


@pytest.mark.parametrize("rule", RULES, ids=[r.topic for r in RULES])
def test_rule_has_firing_and_non_firing_cases_that_exist(rule: Any) -> None:
    cases = rule.meta.cases
    assert cases.fires, f"{rule.topic} has no firing case"
    assert cases.silent, f"{rule.topic} has no non-firing case"
    for name in cases.fires + cases.silent:
        assert name in NAMES, f"{rule.topic}: case {name!r} is not a scenario"


@pytest.mark.parametrize("rule", RULES, ids=[r.topic for r in RULES])
def test_rule_cases_behave_as_declared(
    rule: Any, scenario_results: dict[str, dict[str, Any]]
) -> None:
    for name in rule.meta.cases.fires:
        decision = _decision(scenario_results[name], rule.topic)
        assert decision["fired"], f"{rule.topic} should fire for {name}: {decision['reason']}"
    for name in rule.meta.cases.silent:
        decision = _decision(scenario_results[name], rule.topic)
        assert not decision["fired"], f"{rule.topic} should be silent for {name}"


@pytest.mark.parametrize("rule", RULES, ids=[r.topic for r in RULES])
def test_rule_metadata_is_complete(rule: Any) -> None:
    meta = rule.meta
    assert meta.topic == rule.topic
    assert meta.title
    assert meta.evidence
    assert meta.links
    assert all(reason.display for reason in meta.override_reasons)
    module = __import__(f"rules.cards.{rule.module}", fromlist=["x"])
    assert module.__doc__
    assert "*When*" in module.__doc__, "the docstring states the rule's When / then"


def _decision(result: dict[str, Any], topic: str) -> dict[str, Any]:
    return next(d for d in result["evaluation"]["rules"] if d["id"] == topic)
