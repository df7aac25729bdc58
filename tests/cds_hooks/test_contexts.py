"""Each hook's required context is enforced; loose real-world shapes are tolerated."""

from __future__ import annotations

from typing import Any

import pytest

from cds_hooks.contexts import OrderSelectContext, OrderSignContext, parse_context
from cds_hooks.errors import InvalidRequest
from tests.conftest import load_json
from tests.factories import draft_bundle

LIB = "cds-hooks/hl7-cds-hooks-library-1.0.1-examples"
MED = {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft"}


@pytest.mark.parametrize(
    ("hook", "name"),
    [
        ("order-sign", "order-sign-01-example-r4.json"),
        ("order-select", "order-select-01-example-r4.json"),
        ("patient-view", "patient-view-01-examples.json"),
        ("patient-view", "patient-view-02-examples.json"),
    ],
)
def test_hook_library_examples_are_valid_contexts(hook: str, name: str) -> None:
    parse_context(hook, load_json(f"{LIB}/{name}")["context"])


def test_sandbox_draft_orders_without_bundle_type_are_accepted() -> None:
    ctx = parse_context(
        "order-sign",
        {
            "userId": "Practitioner/COREPRACTITIONER1",
            "patientId": "smart-1288992",
            "draftOrders": draft_bundle(MED),
        },
    )
    assert isinstance(ctx, OrderSignContext)
    assert ctx.encounterId is None


@pytest.mark.parametrize(
    ("hook", "context", "location"),
    [
        ("patient-view", {"userId": "Practitioner/1"}, "context.patientId"),
        ("patient-view", {"patientId": "1"}, "context.userId"),
        ("patient-view", {"patientId": "1", "userId": "Device/1"}, "context.userId"),
        (
            "patient-view",
            {"patientId": "Patient/1", "userId": "Practitioner/1"},
            "context.patientId",
        ),
        ("order-sign", {"patientId": "1", "userId": "Practitioner/1"}, "context.draftOrders"),
        (
            "order-sign",
            {"patientId": "1", "userId": "Practitioner/1", "draftOrders": {"resourceType": "List"}},
            "context.draftOrders",
        ),
        (
            "order-sign",
            {
                "patientId": "1",
                "userId": "Practitioner/1",
                "draftOrders": {"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]},
            },
            "context.draftOrders",
        ),
        (
            "order-select",
            {"patientId": "1", "userId": "Practitioner/1", "draftOrders": draft_bundle(MED)},
            "context.selections",
        ),
    ],
)
def test_missing_or_wrong_context_fields_are_400_with_location(
    hook: str, context: dict[str, Any], location: str
) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        parse_context(hook, context)
    assert location in excinfo.value.locations
    assert excinfo.value.to_operation_outcome()["issue"][0]["expression"]


def test_selection_must_name_a_draft_order() -> None:
    context = {
        "patientId": "1",
        "userId": "Practitioner/1",
        "draftOrders": draft_bundle(MED),
        "selections": ["MedicationRequest/other"],
    }
    with pytest.raises(InvalidRequest, match="does not name an order") as excinfo:
        parse_context("order-select", context)
    assert excinfo.value.locations == ("context.selections[0]",)
    context["selections"] = ["MedicationRequest/request-123"]
    assert isinstance(parse_context("order-select", context), OrderSelectContext)


def test_unknown_context_fields_are_tolerated() -> None:
    ctx = parse_context(
        "patient-view", {"patientId": "1", "userId": "PractitionerRole/9", "epicThing": 1}
    )
    assert ctx.patientId == "1"
