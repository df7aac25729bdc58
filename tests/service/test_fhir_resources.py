"""Slot walking, per-resource R4B validation, lenient repairs and draft-order errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.errors import InvalidRequest, UnsupportedFhirVersion
from service.fhir.resources import (
    Medication,
    MedicationRequest,
    Observation,
    parse_draft_orders,
    parse_resources,
)

DATA = Path(__file__).resolve().parents[1] / "data"
LIBRARY = DATA / "cds-hooks" / "hl7-cds-hooks-library-1.0.1-examples"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def med_request(**extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1049621"}]
        },
    }
    resource.update(extra)
    return resource


def pain_obs(oid: str = "o1", value: float = 5) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
        "effectiveDateTime": "2024-01-02",
        "valueQuantity": {"value": value},
    }


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def drafts(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}


# --- walking slot values ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        bundle(med_request()),
        med_request(),
        [med_request()],
        [bundle(med_request())],
        {"response": {"status": "200"}, "resource": med_request()},  # legacy wrapper
        bundle(bundle(med_request())),  # a Bundle inside a Bundle entry
    ],
)
def test_accepts_bundle_resource_list_and_wrappers(value: Any) -> None:
    result = parse_resources(value, slot="medicationRequests")
    assert [type(p.model) for p in result.resources] == [MedicationRequest]
    assert result.gaps == ()


def test_none_means_no_data() -> None:
    assert parse_resources(None, slot="conditions").resources == ()


def test_only_types_the_rules_read_are_validated() -> None:
    claim = {"resourceType": "Claim", "id": "c1", "this": "is not valid FHIR"}
    result = parse_resources(bundle(claim, med_request()), slot="x")
    assert [p.resource_type for p in result.resources] == ["MedicationRequest"]
    assert result.gaps == ()


def test_accept_filter_runs_before_validation() -> None:
    vital = {"resourceType": "Observation", "status": "final", "code": {"text": "BP"}, "bogus": 1}
    result = parse_resources(
        bundle(vital, pain_obs()),
        slot="painObservations",
        accept=lambda raw: raw.get("code", {}).get("text") != "BP",
    )
    assert [p.model.id for p in result.resources] == ["o1"]
    assert result.gaps == ()


def test_malformed_history_resource_becomes_a_gap_and_is_skipped() -> None:
    bad = pain_obs("secret-id-123")
    bad["effectiveDateTime"] = "yesterday"
    bad["subject"] = {"reference": "Patient/p1", "display": "Jane Doe"}
    result = parse_resources(bundle(pain_obs("o1"), bad, pain_obs("o3")), slot="painObservations")
    assert [p.model.id for p in result.resources] == ["o1", "o3"]
    (gap,) = result.gaps
    assert gap.code == "invalid-resource"
    assert "Observation at painObservations.entry[1]" in gap.message
    assert "effectiveDateTime" in gap.message
    assert "yesterday" not in gap.message
    assert "Jane" not in gap.message
    assert "secret-id-123" not in gap.message


def test_unknown_fields_outside_what_we_read_do_not_reject_a_resource() -> None:
    resource = med_request(vendorField={"x": 1}, requester={"agent": "not R4 either"})
    result = parse_resources(resource, slot="medicationRequests")
    assert len(result.resources) == 1
    assert result.gaps == ()


def test_invalid_element_we_read_is_rejected_even_when_cached() -> None:
    bad = med_request(
        dosageInstruction=[{"timing": {"repeat": {"period": "x", "periodUnit": "h"}}}]
    )
    twin = copy.deepcopy(bad)
    twin["id"] = "mr-2"
    result = parse_resources(bundle(bad, twin), slot="medicationRequests")
    assert result.resources == ()
    assert [g.code for g in result.gaps] == ["invalid-resource", "invalid-resource"]
    assert all("dosageInstruction[0].timing.repeat.period" in g.message for g in result.gaps)


def test_operation_outcome_in_a_search_is_reported_without_diagnostics() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "warning", "code": "too-costly", "diagnostics": "Patient Jane Doe"}],
    }
    result = parse_resources(bundle(outcome, pain_obs()), slot="painObservations")
    assert len(result.resources) == 1
    (gap,) = result.gaps
    assert gap.code == "server-outcome"
    assert "warning/too-costly" in gap.message
    assert "Jane" not in gap.message


def test_duplicates_across_slots_are_read_once() -> None:
    seen: set[tuple[str, str]] = set()
    med = {"resourceType": "Medication", "id": "m1", "code": {"text": "oxycodone"}}
    first = parse_resources(bundle(med), slot="medicationRequests", seen=seen)
    second = parse_resources(bundle(med), slot="medicationDispenses", seen=seen)
    assert len(first.resources) == 1
    assert second.resources == ()


def test_history_category_object_is_repaired_and_noted() -> None:
    resource = med_request(category={"coding": [{"code": "community"}]})
    result = parse_resources(resource, slot="medicationRequests")
    assert len(result.resources) == 1
    model = result.resources[0].model
    assert isinstance(model, MedicationRequest)
    assert model.category is not None
    assert model.category[0].coding is not None
    assert model.category[0].coding[0].code == "community"
    assert [g.code for g in result.gaps] == ["repaired-shape"]
    assert result.gaps[0].reference == "MedicationRequest/mr-1"


def test_history_request_without_intent_is_not_defaulted() -> None:
    resource = med_request()
    del resource["intent"]
    result = parse_resources(resource, slot="medicationRequests")
    assert result.resources == ()
    assert result.gaps[0].code == "invalid-resource"
    assert "intent" in result.gaps[0].message


def test_contained_medication_is_validated_and_indexed() -> None:
    resource = med_request(
        contained=[{"resourceType": "Medication", "id": "m", "code": {"text": "oxycodone"}}],
        medicationReference={"reference": "#m"},
    )
    del resource["medicationCodeableConcept"]
    (parsed,) = parse_resources(resource, slot="medicationRequests").resources
    assert isinstance(parsed.contained["m"], Medication)


def test_observation_component_and_unknown_component_fields() -> None:
    obs = pain_obs()
    obs["component"] = [
        {"code": {"text": "item"}, "valueInteger": 3, "interpretation": [{"text": "x"}]}
    ]
    (parsed,) = parse_resources(obs, slot="painObservations").resources
    assert isinstance(parsed.model, Observation)
    assert parsed.model.component is not None
    assert parsed.model.component[0].valueInteger == 3


# --- draft orders -----------------------------------------------------------------------


def sandbox_r4_draft(**extra: Any) -> dict[str, Any]:
    """An R4 draft as the CDS Hooks Sandbox builds it (docs/cds-hooks.md §3.1)."""
    draft: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "request-123",
        "status": "draft",
        "subject": {"reference": "Patient/smart-1288992"},
        "authoredOn": "2024-03-01",
        "medicationCodeableConcept": {
            "text": "Oxycodone Hydrochloride 5 MG Oral Tablet",
            "coding": [
                {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1049621"}
            ],
        },
        "dosageInstruction": [
            {
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": 1,
                            "system": "http://unitsofmeasure.org",
                            "code": "{pill}",
                        }
                    }
                ],
                "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
            }
        ],
    }
    draft.update(extra)
    return draft


def test_sandbox_loose_draft_is_repaired_and_noted() -> None:
    draft = sandbox_r4_draft(
        category={"coding": [{"code": "community"}]},
        reasonCode={"coding": [{"system": "http://snomed.info/sct", "code": "279039007"}]},
    )
    result = parse_draft_orders(drafts(draft))
    (parsed,) = result.resources
    assert isinstance(parsed.model, MedicationRequest)
    assert parsed.model.intent == "order"
    assert {g.code for g in result.gaps} == {"defaulted-intent", "repaired-shape"}
    assert all("context.draftOrders.entry[0]" in g.message for g in result.gaps)


def test_sandbox_draft_without_a_medication_yet_is_skipped_not_rejected() -> None:
    draft = sandbox_r4_draft()
    del draft["medicationCodeableConcept"]
    result = parse_draft_orders(drafts(draft))
    assert result.resources == ()
    assert [g.code for g in result.gaps] == ["draft-without-medication"]


@pytest.mark.parametrize(
    "name", ["order-sign-03-example-dstu2.json", "order-select-03-example-dstu2.json"]
)
def test_dstu2_medication_order_is_unsupported(name: str) -> None:
    request = load(LIBRARY / name)
    with pytest.raises(UnsupportedFhirVersion) as info:
        parse_draft_orders(request["context"]["draftOrders"])
    assert info.value.locations == ("context.draftOrders.entry[1]",)
    assert "R4" in info.value.message
    assert "DSTU2 MedicationOrder" in info.value.message
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    ("extra", "version"),
    [
        ({"context": {"reference": "Encounter/1"}}, "STU3"),
        ({"requester": {"agent": {"reference": "Practitioner/1"}}}, "STU3"),
        ({"dateWritten": "2024-01-01"}, "DSTU2"),
    ],
)
def test_pre_r4_shapes_in_a_medication_request_are_unsupported(
    extra: dict[str, Any], version: str
) -> None:
    with pytest.raises(UnsupportedFhirVersion) as info:
        parse_draft_orders(drafts({"resourceType": "NutritionOrder"}, sandbox_r4_draft(**extra)))
    assert info.value.locations == ("context.draftOrders.entry[1]",)
    assert version in info.value.message


def test_malformed_draft_is_an_invalid_request_with_its_location() -> None:
    draft = sandbox_r4_draft(authoredOn="last tuesday")
    with pytest.raises(InvalidRequest) as info:
        parse_draft_orders(drafts(sandbox_r4_draft(), draft))
    assert not isinstance(info.value, UnsupportedFhirVersion)
    assert info.value.locations == ("context.draftOrders.entry[1]",)
    assert "authoredOn" in info.value.message
    assert "last tuesday" not in info.value.message


@pytest.mark.parametrize(
    ("value", "location"),
    [
        ([sandbox_r4_draft()], "context.draftOrders"),
        ({"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}, "context.draftOrders.entry[0]"),
    ],
)
def test_draft_orders_that_are_not_a_bundle_of_resources(value: Any, location: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_draft_orders(value)
    assert info.value.locations == (location,)


@pytest.mark.parametrize(
    "name",
    [
        "order-sign-01-example-r4.json",  # STU3-style Dosage.doseQuantity (examples look swapped)
        "order-sign-02-example-stu3.json",  # R4 doseAndRate, but a single object
        "order-select-01-example-r4.json",
    ],
)
def test_hook_library_examples_parse_with_noted_repairs(name: str) -> None:
    request = load(LIBRARY / name)
    result = parse_draft_orders(request["context"]["draftOrders"])
    (parsed,) = result.resources  # the NutritionOrder is not read
    assert isinstance(parsed.model, MedicationRequest)
    assert parsed.location == "context.draftOrders.entry[1]"
    dosage = parsed.model.dosageInstruction[0]  # type: ignore[index]
    assert dosage.doseAndRate[0].doseQuantity.value == 5  # type: ignore[index,union-attr]
    assert [g.code for g in result.gaps] == ["repaired-shape"]


def test_spec_and_inferno_drafts_parse_cleanly() -> None:
    spec = load(
        DATA
        / "cds-hooks"
        / "hl7-cds-hooks-2.0.1-spec-examples"
        / "spec201-05-context-fragment-draftOrders.json"
    )
    inferno = load(DATA / "cds-hooks" / "inferno-crd-test-kit" / "order_sign_hook_request.json")
    assert len(parse_draft_orders(spec["context"]["draftOrders"]).resources) == 1
    assert len(parse_draft_orders(inferno["context"]["draftOrders"]).resources) == 1


def test_epic_medication_entries_in_draft_orders_are_parsed_not_treated_as_orders() -> None:
    draft = sandbox_r4_draft(medicationReference={"reference": "Medication/epic-med-1"})
    del draft["medicationCodeableConcept"]
    med = {"resourceType": "Medication", "id": "epic-med-1", "code": {"text": "oxycodone"}}
    result = parse_draft_orders(drafts(draft, med))
    assert [p.resource_type for p in result.resources] == ["MedicationRequest", "Medication"]


def test_malformed_medication_in_draft_orders_is_an_invalid_request() -> None:
    med = {"resourceType": "Medication", "id": "m", "code": "oxycodone"}
    with pytest.raises(InvalidRequest) as info:
        parse_draft_orders(drafts(sandbox_r4_draft(), med))
    assert info.value.locations == ("context.draftOrders.entry[1]",)
