"""build_timeline end to end: conditions, encounters, procedures, context and Synthea records."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rules.timeline import ICD10CM, SNOMED, Code, PatientTimeline
from service.normalize.timeline import build_timeline

SYNTHEA = Path(__file__).resolve().parents[1] / "data" / "synthea"
MANIFEST = list(csv.DictReader((SYNTHEA / "MANIFEST.csv").open(encoding="utf-8")))
AS_OF = date(2024, 6, 1)


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def test_condition_encounter_procedure_and_patient_facts() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "category": {"coding": [{"code": "problem-list-item"}]},  # single object: repaired
        "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.90", "code": "D57.1"}]},
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "onsetDateTime": "2019",
        "recordedDate": "2020-02-03",
        "abatementPeriod": {"start": "2023-01-01", "end": "2023-02-01"},
    }
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "IMP"},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "183452005"}]}],
        "period": {"start": "2024-01-01T10:00:00Z", "end": "2024-01-05T10:00:00Z"},
        "hospitalization": {
            "dischargeDisposition": {"coding": [{"system": SNOMED, "code": "385765002"}]},
            "admitSource": {"text": "not read"},
        },
        "diagnosis": [{"condition": {"reference": "Condition/c1"}}],
    }
    procedure = {
        "resourceType": "Procedure",
        "id": "p1",
        "status": "completed",
        "code": {"coding": [{"system": SNOMED, "code": "305336008"}]},
        "subject": {"reference": "Patient/p1"},
        "performedPeriod": {"start": "2024-01-04"},
    }
    referral = {
        "resourceType": "ServiceRequest",
        "id": "s1",
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": SNOMED, "code": "306205009"}]},
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2024-02-01",
    }
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "birthDate": "1970-04-05",
        "name": [{"text": "x"}],
    }
    timeline = build_timeline(
        {
            "patient": patient,
            "conditions": bundle(condition),
            "encounters": bundle(encounter),
            "procedures": bundle(procedure, referral),
        },
        None,
        AS_OF,
        context_encounter_id="e1",
    )
    assert timeline.birth_date == date(1970, 4, 5)
    (cond,) = timeline.conditions
    assert cond.codes == (Code(ICD10CM, "D57.1"),)
    assert (cond.clinical_status, cond.verification_status) == ("active", "confirmed")
    assert cond.categories == ("problem-list-item",)
    assert (cond.onset, cond.recorded, cond.abatement) == (
        date(2019, 1, 1),
        date(2020, 2, 3),
        date(2023, 2, 1),
    )
    assert cond.encounter_reference == "Encounter/e1"
    (enc,) = timeline.encounters
    assert enc.class_code == "IMP"
    assert (enc.start, enc.end, enc.status) == (date(2024, 1, 1), date(2024, 1, 5), "finished")
    assert enc.discharge_disposition == (Code(SNOMED, "385765002"),)
    assert enc.diagnosis_condition_refs == ("Condition/c1",)
    assert timeline.context_encounter == enc
    assert sorted((p.reference, p.day) for p in timeline.procedures) == [
        ("Procedure/p1", date(2024, 1, 4)),
        ("ServiceRequest/s1", date(2024, 2, 1)),
    ]
    assert [g.code for g in timeline.gaps] == ["repaired-shape"]


def test_unknown_context_encounter_is_a_gap() -> None:
    timeline = build_timeline({"encounters": bundle()}, None, AS_OF, context_encounter_id="nope")
    assert timeline.context_encounter is None
    assert [g.code for g in timeline.gaps] == ["context-encounter-not-found"]


def test_empty_and_null_slots() -> None:
    timeline = build_timeline({"patient": None, "conditions": bundle()}, None, AS_OF)
    assert timeline == PatientTimeline(as_of=AS_OF)


def test_a_malformed_history_resource_does_not_stop_the_rest() -> None:
    good = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/p"},
    }
    bad = {"resourceType": "Condition", "id": "c2", "code": {"text": "x"}}  # subject is required
    timeline = build_timeline({"conditions": bundle(bad, good)}, None, AS_OF)
    assert [c.reference for c in timeline.conditions] == ["Condition/c1"]
    assert [g.code for g in timeline.gaps] == ["invalid-resource"]
    assert "conditions.entry[0]" in timeline.gaps[0].message


def test_manifest_lists_every_copied_bundle() -> None:
    assert len(MANIFEST) == 16
    assert {row["file"] for row in MANIFEST} == {p.name for p in SYNTHEA.glob("*.json")}


@pytest.mark.parametrize("row", MANIFEST, ids=[row["file"].split("_")[0] for row in MANIFEST])
def test_synthea_bundle_normalises(row: dict[str, str]) -> None:
    record = json.loads((SYNTHEA / row["file"]).read_text(encoding="utf-8"))
    timeline = build_timeline({"everything": record}, None, date(2100, 1, 1))
    assert not [g for g in timeline.gaps if g.code == "invalid-resource"]
    assert timeline.birth_date is not None
    # every 72514-3 score of the manifest, on the 0-10 scale, tied to a Synthea encounter
    assert len(timeline.pain_scores) == int(row["n_pain_obs_72514_3"])
    assert all(s.encounter_class in {"AMB", "EMER", "IMP"} for s in timeline.pain_scores)
    # every opioid MedicationRequest of the manifest is an order with its RxNorm code
    opioid_codes = {item.split(" ", 1)[0] for item in row["opioid_codes"].split(";") if item}
    opioid_orders = [o for o in timeline.orders if o.codes and o.codes[0].code in opioid_codes]
    assert len(opioid_orders) == int(row["n_opioid_medicationrequests"])
    assert all(o.start is not None for o in opioid_orders)


def test_spec_prefetch_example_with_snipped_fields() -> None:
    example = json.loads(
        (
            SYNTHEA.parent
            / "cds-hooks"
            / "hl7-cds-hooks-2.0.1-spec-examples"
            / "spec201-08-request-prefetch-data-fragment.json"
        ).read_text(encoding="utf-8")
    )
    prefetch = example["prefetch"]
    timeline = build_timeline(prefetch, None, AS_OF)
    assert timeline.birth_date == date(1974, 12, 25)  # '"...": "<snipped>"' is not read
    assert timeline.labs == ()  # HbA1c is not a lab the rules read
    assert [g.code for g in timeline.gaps] == ["unreadable-data"]  # "user": "123"


# --------------------------------------------------- the fast path changes nothing
#
# ``ValidationCache.resource`` (field-by-field R4B validation) only saves work: with it
# switched off every resource goes through ``model_validate`` as before. The timeline
# must be the same either way, for every scenario and every Synthea record.


def _timeline_both_ways(
    monkeypatch: pytest.MonkeyPatch, build: Any
) -> tuple[PatientTimeline | str, PatientTimeline | str]:
    from service.fhir.resources import ValidationCache

    def run() -> PatientTimeline | str:
        try:
            return build()
        except Exception as exc:  # a 400 must be the same 400
            return f"{type(exc).__name__}: {exc}"

    fast = run()
    with monkeypatch.context() as m:
        m.setattr(ValidationCache, "resource", lambda self, model, value: None)
        full = run()
    return fast, full


def _scenario_names() -> list[str]:
    from service.scenarios import list_scenarios

    return [info.name for info in list_scenarios()]


@pytest.mark.parametrize("name", _scenario_names())
def test_fast_path_gives_the_same_timeline_for_every_scenario(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.scenarios import build_request

    as_of = date(2025, 6, 30)
    for hook in ("patient-view", "order-sign"):
        body = build_request(name, hook, as_of)
        context = body["context"]

        def build(body: dict[str, Any] = body, context: dict[str, Any] = context) -> Any:
            return build_timeline(
                body["prefetch"],
                context.get("draftOrders"),
                as_of,
                context_encounter_id=context.get("encounterId"),
            )

        fast, full = _timeline_both_ways(monkeypatch, build)
        assert fast == full, hook


@pytest.mark.parametrize("row", MANIFEST, ids=[row["file"].split("_")[0] for row in MANIFEST])
def test_fast_path_gives_the_same_timeline_for_every_synthea_record(
    row: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = json.loads((SYNTHEA / row["file"]).read_text(encoding="utf-8"))
    fast, full = _timeline_both_ways(
        monkeypatch, lambda: build_timeline({"everything": record}, None, date(2018, 6, 1))
    )
    assert fast == full


def test_the_mme_memo_gives_each_order_what_order_mme_gives_it() -> None:
    """mme_timeline computes each distinct prescription once; every order of every
    scenario (and the heavy benchmark patient) must still get exactly its own result."""
    from bench.generate import generate
    from rules.assessment import oud_reason_test
    from rules.mme import order_mme, patient_mme
    from service.scenarios import build_draft_orders, build_prefetch, list_scenarios

    as_of = date(2026, 11, 23)
    for_oud = oud_reason_test()
    heavy = generate("heavy", as_of)
    cases = [(heavy["prefetch"], heavy["context"]["draftOrders"])]
    for info in list_scenarios():
        cases.append((build_prefetch(info.name, as_of), build_draft_orders(info.name, as_of)))
    compared = 0
    for prefetch, drafts in cases:
        timeline = build_timeline(prefetch, drafts, as_of)
        by_reference = {o.reference: o for o in timeline.orders + timeline.drafts}
        exposures = patient_mme(timeline, for_oud=for_oud).orders
        references = [e.mme.reference for e in exposures]
        assert len(references) == len(set(references))  # each order keeps its own reference
        for exposure in exposures:
            order = by_reference[exposure.mme.reference]
            assert exposure.mme == order_mme(order, for_oud=for_oud(order)), order.reference
            if exposure.ignored is None and order.source.value != "draft":
                assert exposure.start == order.start
            compared += 1
    assert compared > 1000
