"""Prefetch templates render only allowed tokens; slots are classified as the spec says."""

from __future__ import annotations

from typing import Any

import pytest

from cds_hooks.prefetch import (
    SlotState,
    UnresolvableToken,
    classify_slot,
    is_allowed_token,
    render_template,
)

CTX = {"patientId": "123", "userId": "Practitioner/abc", "encounterId": "e9"}


def test_context_tokens_are_rendered() -> None:
    assert render_template("Patient/{{context.patientId}}", CTX) == "Patient/123"
    assert render_template("Encounter/{{ context.encounterId }}", CTX) == "Encounter/e9"


def test_user_tokens_render_only_for_the_matching_resource_type() -> None:
    assert render_template("Practitioner/{{userPractitionerId}}", CTX) == "Practitioner/abc"
    with pytest.raises(UnresolvableToken):
        render_template("PractitionerRole/{{userPractitionerRoleId}}", CTX)


def test_missing_encounter_id_is_unresolvable_not_empty() -> None:
    with pytest.raises(UnresolvableToken):
        render_template("Encounter/{{context.encounterId}}", {"patientId": "1"})


def test_draft_orders_is_not_a_prefetch_token() -> None:
    assert not is_allowed_token("context.draftOrders")
    with pytest.raises(UnresolvableToken):
        render_template("X?y={{context.draftOrders}}", {"draftOrders": "x"})


ERROR_OO = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}
INFO_OO = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "x"}]}


@pytest.mark.parametrize(
    ("prefetch", "expected"),
    [
        (None, SlotState.ABSENT),
        ({}, SlotState.ABSENT),
        ({"k": None}, SlotState.NULL),
        ({"k": {"resourceType": "Patient", "id": "1"}}, SlotState.PRESENT),
        ({"k": {"resourceType": "Bundle", "entry": []}}, SlotState.PRESENT),
        ({"k": ERROR_OO}, SlotState.FAILED),
        ({"k": {"resourceType": "Bundle", "entry": [{"resource": ERROR_OO}]}}, SlotState.FAILED),
        ({"k": {"resourceType": "Bundle", "entry": [{"resource": INFO_OO}]}}, SlotState.PRESENT),
        ({"k": "garbage"}, SlotState.FAILED),
        ({"k": {"no": "type"}}, SlotState.FAILED),
    ],
)
def test_slot_classification(prefetch: dict[str, Any] | None, expected: SlotState) -> None:
    assert classify_slot(prefetch, "k") is expected


def test_epic_outcome_beside_results_is_present() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "Condition", "id": "c"}},
            {"resource": ERROR_OO, "search": {"mode": "outcome"}},
        ],
    }
    assert classify_slot({"k": bundle}, "k") is SlotState.PRESENT


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("Patient/{{context.patientId}}", {"patientId": "1&_include=*"}),
        ("Patient/{{context.patientId}}", {"patientId": "../.."}),
        ("Patient/{{context.patientId}}", {"patientId": "x" * 65}),
        ("Encounter/{{context.encounterId}}", {"encounterId": "e 1"}),
        ("X?u={{context.userId}}", {"userId": "Practitioner/a&b=c"}),
        ("Practitioner/{{userPractitionerId}}", {"userId": "Practitioner/../x"}),
    ],
)
def test_values_that_are_not_fhir_ids_never_reach_a_query(
    template: str, context: dict[str, Any]
) -> None:
    with pytest.raises(UnresolvableToken):
        render_template(template, context)


def test_user_id_token_renders_the_whole_reference() -> None:
    assert render_template("X?u={{context.userId}}", CTX) == "X?u=Practitioner/abc"
