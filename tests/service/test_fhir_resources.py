"""Slot walking, per-resource R4B validation, lenient repairs and draft-order errors."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

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


def test_reason_code_object_is_repaired_and_a_malformed_one_is_ignored() -> None:
    loose = med_request(reasonCode={"text": "Chronic pain"})  # the CDS Hooks Sandbox's shape
    result = parse_resources(loose, slot="medicationRequests")
    model = result.resources[0].model
    assert isinstance(model, MedicationRequest)
    assert model.reasonCode is not None
    assert model.reasonCode[0].text == "Chronic pain"
    assert [g.code for g in result.gaps] == ["repaired-shape"]
    assert "reasonCode" in result.gaps[0].message
    broken = parse_resources(med_request(reasonCode=["F11.20"]), slot="medicationRequests")
    (kept,) = broken.resources  # the order itself still counts
    assert isinstance(kept.model, MedicationRequest)
    assert kept.model.reasonCode is None
    assert [g.code for g in broken.gaps] == ["ignored-element"]
    assert "reasonCode" in broken.gaps[0].message
    both = parse_resources(med_request(reasonCode=["F11.20"], status=5), slot="medicationRequests")
    assert both.resources == ()
    assert [g.code for g in both.gaps] == ["invalid-resource"]


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


# ------------------------------------------------------------------- the fast path
#
# ``ValidationCache.resource`` builds a model field by field (each primitive with its
# field's own R4B schema, each element through the per-request cache) and returns
# ``None`` whenever it is not certain; the full ``model_validate`` then decides. These
# tests pin the two halves of "equivalent": whatever the fast path accepts,
# ``model_validate`` accepts and builds identically; whatever ``model_validate``
# rejects, the fast path declines, so the rejection (and its message) is unchanged.


def full_dispense_request(**extra: Any) -> dict[str, Any]:
    return med_request(
        category=[{"coding": [{"code": "community"}]}],
        authoredOn="2024-01-02T09:00:00Z",
        dosageInstruction=[
            {
                "text": "1 tab q6h prn",
                "timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}},
                "asNeededBoolean": True,
                "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg", "code": "mg"}}],
            }
        ],
        dispenseRequest={
            "validityPeriod": {"start": "2024-01-02", "end": "2024-02-01"},
            "quantity": {"value": 28, "unit": "tablet"},
            "expectedSupplyDuration": {"value": 7, "unit": "days", "code": "d"},
        },
        **extra,
    )


def encounter_obs() -> dict[str, Any]:
    obs = pain_obs()
    obs["encounter"] = {"reference": "Encounter/e1"}
    obs["component"] = [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "75893-8"}]}, "valueInteger": 4}
    ]
    obs["referenceRange"] = [{"high": {"value": 10}}]
    return obs


def _set(resource: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


_DELETE = object()

#: One of each kind of defect that full R4B validation rejects, in an Observation...
MALFORMED_OBSERVATIONS: dict[str, dict[str, Any]] = {
    "no status": _set(encounter_obs(), ("status",), _DELETE),
    "null status": _set(encounter_obs(), ("status",), None),
    "status not a code": _set(encounter_obs(), ("status",), " final"),
    "status not a string": _set(encounter_obs(), ("status",), 5),
    "no code": _set(encounter_obs(), ("code",), _DELETE),
    "code is a list": _set(encounter_obs(), ("code",), [{"text": "x"}]),
    "coding is an object": _set(encounter_obs(), ("code", "coding"), {"code": "72514-3"}),
    "coding code not a string": _set(encounter_obs(), ("code", "coding", 0, "code"), 72514),
    "unknown key in an element": _set(encounter_obs(), ("valueQuantity", "bogus"), 1),
    "resourceType in an element": _set(encounter_obs(), ("encounter", "resourceType"), "X"),
    "two value[x]": _set(encounter_obs(), ("valueInteger",), 5),
    "two effective[x]": _set(encounter_obs(), ("effectiveInstant",), "2024-01-02T10:00:00Z"),
    "bad dateTime": _set(encounter_obs(), ("effectiveDateTime",), "2024-13-45"),
    "dateTime without zone": _set(encounter_obs(), ("effectiveDateTime",), "2024-01-02T10:00:00"),
    "instant without time": _set(encounter_obs(), ("effectiveDateTime",), _DELETE)
    | {"effectiveInstant": "2024-01-02"},
    "bad decimal": _set(encounter_obs(), ("valueQuantity", "value"), "five"),
    "integer out of range": _set(encounter_obs(), ("component", 0, "valueInteger"), 2**40),
    "null in a list of elements": _set(encounter_obs(), ("component",), [None]),
    "component without code": _set(encounter_obs(), ("component", 0, "code"), _DELETE),
    "bad id": _set(encounter_obs(), ("id",), "bad id!"),
    "reference not a string": _set(encounter_obs(), ("encounter", "reference"), ["x"]),
}

#: ... and in a MedicationRequest, including its per-order dispenseRequest.
MALFORMED_REQUESTS: dict[str, dict[str, Any]] = {
    "no subject": _set(full_dispense_request(), ("subject",), _DELETE),
    "no status": _set(full_dispense_request(), ("status",), _DELETE),
    "no medication[x]": _set(full_dispense_request(), ("medicationCodeableConcept",), _DELETE),
    "two medication[x]": full_dispense_request(medicationReference={"reference": "#m"}),
    "validityPeriod.start not a date": _set(
        full_dispense_request(), ("dispenseRequest", "validityPeriod", "start"), "soon"
    ),
    "validityPeriod unknown key": _set(
        full_dispense_request(), ("dispenseRequest", "validityPeriod", "bogus"), 1
    ),
    "quantity.value not a number": _set(
        full_dispense_request(), ("dispenseRequest", "quantity", "value"), "x"
    ),
    "expectedSupplyDuration is a list": _set(
        full_dispense_request(), ("dispenseRequest", "expectedSupplyDuration"), [{"value": 7}]
    ),
    "dispenseRequest is a string": _set(full_dispense_request(), ("dispenseRequest",), "x"),
    "frequency not an integer": _set(
        full_dispense_request(), ("dosageInstruction", 0, "timing", "repeat", "frequency"), 1.5
    ),
    "asNeededBoolean not a boolean": _set(
        full_dispense_request(), ("dosageInstruction", 0, "asNeededBoolean"), "often"
    ),
    "two asNeeded[x]": _set(
        full_dispense_request(), ("dosageInstruction", 0, "asNeededCodeableConcept"), {"text": "x"}
    ),
    "authoredOn not a date": _set(full_dispense_request(), ("authoredOn",), "yesterday"),
    "category item null": _set(full_dispense_request(), ("category",), [None]),
}


def _projected(resource: dict[str, Any]) -> tuple[type[Any], dict[str, Any]]:
    from service.fhir import resources

    rtype = resource["resourceType"]
    return resources._MODELS[rtype], resources._project(rtype, resource, [])


def _assert_same_model(fast: Any, full: Any) -> None:
    assert type(fast) is type(full)
    assert fast == full
    assert fast.__dict__ == full.__dict__
    assert list(fast.__dict__) == list(full.__dict__)
    assert fast.__pydantic_fields_set__ == full.__pydantic_fields_set__
    assert fast.__pydantic_extra__ == full.__pydantic_extra__
    assert fast.__pydantic_private__ == full.__pydantic_private__
    assert fast.model_dump() == full.model_dump()


@pytest.mark.parametrize(
    "resource", [pain_obs(), encounter_obs(), med_request(), full_dispense_request()]
)
def test_fast_path_builds_the_same_model_as_model_validate(resource: dict[str, Any]) -> None:
    from service.fhir.resources import ValidationCache

    model, projected = _projected(resource)
    fast = ValidationCache().resource(model, copy.deepcopy(projected))
    assert fast is not None
    _assert_same_model(fast, model.model_validate(copy.deepcopy(projected)))


@pytest.mark.parametrize(
    "resource",
    [*MALFORMED_OBSERVATIONS.values(), *MALFORMED_REQUESTS.values()],
    ids=[*(f"obs: {k}" for k in MALFORMED_OBSERVATIONS), *(f"mr: {k}" for k in MALFORMED_REQUESTS)],
)
def test_each_kind_of_malformed_resource_is_still_rejected(resource: dict[str, Any]) -> None:
    from service.fhir.resources import ValidationCache

    model, projected = _projected(resource)
    with pytest.raises((ValidationError, ValueError, TypeError)):
        model.model_validate(copy.deepcopy(projected))
    # a warm cache (the valid twin seen first) must not let the defect through
    cache = ValidationCache()
    good = encounter_obs() if resource["resourceType"] == "Observation" else full_dispense_request()
    parse_resources(bundle(good), slot="s", cache=cache)
    assert cache.resource(model, copy.deepcopy(projected)) is None
    result = parse_resources(bundle(good, resource), slot="s", cache=cache)
    assert [p.model.id for p in result.resources] == [good["id"]]
    assert [g.code for g in result.gaps] == ["invalid-resource"]
    assert "s.entry[1]" in result.gaps[0].message
    if resource["resourceType"] == "MedicationRequest":
        if "medicationCodeableConcept" not in resource:  # a Sandbox draft not picked yet
            gaps = parse_draft_orders(bundle(resource)).gaps
            assert [g.code for g in gaps] == ["draft-without-medication"]
            return
        with pytest.raises(InvalidRequest) as err:
            parse_draft_orders(bundle(resource))
        assert err.value.locations == ("context.draftOrders.entry[0]",)
        assert not isinstance(err.value, UnsupportedFhirVersion)


def test_rejection_message_is_the_one_of_full_validation() -> None:
    bad = MALFORMED_REQUESTS["validityPeriod.start not a date"]
    result = parse_resources(bundle(full_dispense_request(), bad), slot="s")
    assert [g.code for g in result.gaps] == ["invalid-resource"]
    assert "dispenseRequest.validityPeriod.start" in result.gaps[0].message
    bad_obs = MALFORMED_OBSERVATIONS["no code"]
    result = parse_resources(bundle(bad_obs), slot="s")
    assert "code: Field required" in result.gaps[0].message


def _mutations(resource: Any, path: tuple[Any, ...] = ()) -> Any:
    """Every path of ``resource`` deleted, nulled or given a wrong-typed value."""
    if isinstance(resource, dict):
        items: Any = list(resource.items())
    elif isinstance(resource, list):
        items = list(enumerate(resource))
    else:
        return
    for key, value in items:
        here = (*path, key)
        if here == ("resourceType",):
            continue
        for bad in (_DELETE, None, 5, 1.5, "x", "", [], {}, True, {"bogus": 1}, [None], ["x"]):
            if bad is _DELETE and isinstance(resource, list):
                continue
            yield here, bad
        yield from _mutations(value, here)


@pytest.mark.parametrize(
    "resource",
    [encounter_obs(), full_dispense_request()],
    ids=["observation", "medication-request"],
)
def test_fast_path_agrees_with_model_validate_on_every_mutation(resource: dict[str, Any]) -> None:
    """Property: fast accepts => model_validate accepts the same data, with the same model."""
    from service.fhir.resources import ValidationCache

    accepted = declined = 0
    cache = ValidationCache()  # one cache for all: hits must not change the outcome
    for path, bad in _mutations(resource):
        model, projected = _projected(_set(resource, path, bad))
        fast = cache.resource(model, copy.deepcopy(projected))
        try:
            full = model.model_validate(copy.deepcopy(projected))
        except (ValidationError, ValueError, TypeError):
            full = None
        if fast is not None:
            assert full is not None, (path, bad)
            _assert_same_model(fast, full)
            accepted += 1
        else:
            declined += 1
    assert accepted > 40
    assert declined > 40


def test_models_with_validators_of_their_own_are_not_mirrored() -> None:
    from fhir.resources.R4B.fhirprimitiveextension import FHIRPrimitiveExtension

    from service.fhir.resources import _plan

    assert _plan(FHIRPrimitiveExtension) is None  # its own "id or extension" rule
    assert _plan(Observation) is not None
    assert _plan(MedicationRequest) is not None


def test_element_models_of_the_projection_are_the_fields_models() -> None:
    from service.fhir.resources import _ELEMENTS, _MODELS, _plan

    for rtype, elements in _ELEMENTS.items():
        plan = _plan(_MODELS[rtype])
        assert plan is not None
        for key, model in elements.items():
            assert plan.fields[key].element_model() is model, (rtype, key)


def test_elements_are_shared_within_a_request_only() -> None:
    first = [
        r.model for r in parse_resources(bundle(pain_obs("a"), pain_obs("b")), slot="s").resources
    ]
    again = [r.model for r in parse_resources(bundle(pain_obs("c")), slot="s").resources]
    assert all(isinstance(m, Observation) for m in first + again)
    a, b, c = first[0], first[1], again[0]
    assert isinstance(a, Observation)
    assert isinstance(b, Observation)
    assert isinstance(c, Observation)
    assert a.code is b.code  # one validated element per request
    assert c.code is not a.code  # a new request, a new cache
    assert c.code == a.code


def test_observation_code_that_is_not_a_string_does_not_crash_the_filter() -> None:
    from service.normalize.timeline import build_timeline

    odd = _set(pain_obs("odd"), ("code", "coding", 0, "code"), ["72514-3"])
    slots = {"painObservations": bundle(odd, pain_obs("ok"))}
    timeline = build_timeline(slots, None, date(2024, 6, 1))
    assert [s.reference for s in timeline.pain_scores] == ["Observation/ok"]


@pytest.mark.parametrize("timing", [["x"], "q6h", 5])
def test_draft_with_a_malformed_timing_is_a_400_not_a_crash(timing: Any) -> None:
    draft = med_request(dosageInstruction=[{"timing": timing}])
    with pytest.raises(InvalidRequest) as err:
        parse_draft_orders(bundle(draft))
    assert err.value.locations == ("context.draftOrders.entry[0]",)
    assert not isinstance(err.value, UnsupportedFhirVersion)
    with pytest.raises(InvalidRequest):
        parse_draft_orders(bundle(med_request(dosageInstruction=5)))
