"""The response models make invalid cards impossible (CDS Hooks 2.0 + FSH cds-resp-1..6)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cds_hooks.models import (
    Action,
    Card,
    CDSResponse,
    Coding,
    Link,
    OverrideReason,
    Source,
    Suggestion,
)
from tests.conftest import load_json

SOURCE = Source(label="oih-cds", topic=Coding(system="urn:oih-cds:topic", code="oih-evaluate"))
SPEC = "cds-hooks/hl7-cds-hooks-2.0.1-spec-examples"


def card(**kwargs: object) -> Card:
    fields: dict[str, object] = {"summary": "Check dose", "indicator": "info", "source": SOURCE}
    fields.update(kwargs)
    return Card.model_validate(fields)


def test_summary_of_139_characters_is_accepted_and_140_refused() -> None:
    assert card(summary="x" * 139).summary == "x" * 139
    with pytest.raises(ValidationError, match="139"):
        card(summary="x" * 140)


@pytest.mark.parametrize("indicator", ["info", "warning", "critical"])
def test_known_indicators_are_accepted(indicator: str) -> None:
    assert card(indicator=indicator).indicator == indicator


def test_unknown_indicator_is_refused() -> None:
    with pytest.raises(ValidationError):
        card(indicator="hard-stop")


def test_every_card_and_suggestion_gets_a_distinct_uuid() -> None:
    first, second = card(), card()
    assert first.uuid != second.uuid
    s1, s2 = Suggestion(label="a"), Suggestion(label="b")
    assert s1.uuid
    assert s1.uuid != s2.uuid


def test_suggestions_require_selection_behavior() -> None:
    with pytest.raises(ValidationError, match="selectionBehavior"):
        card(suggestions=[Suggestion(label="Keep current dose")])
    assert card(suggestions=[Suggestion(label="x")], selectionBehavior="any").suggestions


def test_at_most_one_allows_a_single_recommended_suggestion() -> None:
    two = [Suggestion(label="a", isRecommended=True), Suggestion(label="b", isRecommended=True)]
    with pytest.raises(ValidationError, match="at-most-one"):
        card(suggestions=two, selectionBehavior="at-most-one")
    assert card(suggestions=two, selectionBehavior="any")


def test_override_reasons_need_a_display() -> None:
    with pytest.raises(ValidationError):
        OverrideReason(system="urn:x", code="a")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        OverrideReason(system="urn:x", code="a", display="")


def test_actions_need_a_description_and_the_right_shape() -> None:
    with pytest.raises(ValidationError):
        Action(type="create", resource={"resourceType": "ServiceRequest"})  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="resourceId"):
        Action(type="delete", description="Remove the draft")
    with pytest.raises(ValidationError, match="resourceId"):
        Action(
            type="delete",
            description="Remove",
            resourceId="MedicationRequest/1",
            resource={"resourceType": "MedicationRequest"},
        )
    with pytest.raises(ValidationError, match="needs the resource"):
        Action(type="update", description="Change the draft")


def test_app_context_only_on_smart_links() -> None:
    with pytest.raises(ValidationError, match="smart"):
        Link(label="CDC", url="https://www.cdc.gov", appContext="x")
    assert Link(label="App", url="https://app.example", type="smart", appContext="x")


def test_cards_must_carry_a_topic() -> None:
    with pytest.raises(ValidationError, match="topic"):
        card(source=Source(label="oih-cds"))


def test_unknown_fields_are_refused_in_responses() -> None:
    with pytest.raises(ValidationError):
        card(severity="high")


def test_wire_output_has_no_null_or_empty_values() -> None:
    wire = card(detail="", links=[]).wire()
    assert "detail" not in wire
    assert "links" not in wire
    assert "suggestions" not in wire
    assert "overrideReasons" not in wire
    assert "selectionBehavior" not in wire
    assert set(wire) == {"uuid", "summary", "indicator", "source"}
    assert wire["source"] == {
        "label": "oih-cds",
        "topic": {"system": "urn:oih-cds:topic", "code": "oih-evaluate"},
    }


def test_empty_response_keeps_the_one_required_empty_list() -> None:
    assert CDSResponse().wire() == {"cards": []}
    assert CDSResponse().wire() == load_json(f"{SPEC}/spec201-10-response-empty-cards.json")


@pytest.mark.parametrize(
    "name", ["spec201-12-action-create", "spec201-13-action-update", "spec201-14-action-delete"]
)
def test_spec_example_actions_validate(name: str) -> None:
    action = Action.model_validate(load_json(f"{SPEC}/{name}.json"))
    assert action.description


def test_spec_example_links_and_override_reasons_validate() -> None:
    body = load_json(f"{SPEC}/spec201-17-response-cards-links-overrideReasons.json")
    for raw in body["cards"]:
        for link in raw.get("links", []):
            Link.model_validate(link)
        for reason in raw.get("overrideReasons", []):
            OverrideReason.model_validate(reason)
