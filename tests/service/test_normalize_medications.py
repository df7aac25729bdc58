"""MedicationRequest / MedicationDispense → MedicationOrder: every dosage shape we meet."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from rules.timeline import NDC, RXNORM, Amount, Code, MedicationOrder, OrderSource
from service.normalize.timeline import build_timeline

AS_OF = date(2024, 6, 1)
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
OXY = {"coding": [{"system": RX, "code": "1049621", "display": "oxycodone 5 MG Oral Tablet"}]}
FENTANYL = {"coding": [{"system": RX, "code": "245134", "display": "fentanyl 25 MCG/HR patch"}]}


def request(dosage: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2024-05-01T09:00:00-04:00",
        "medicationCodeableConcept": OXY,
    }
    if dosage is not None:
        resource["dosageInstruction"] = [dosage]
    resource.update(extra)
    return resource


def one_order(resource: dict[str, Any], **slots: Any) -> MedicationOrder:
    timeline = build_timeline({"medicationRequests": resource, **slots}, None, AS_OF)
    (order,) = timeline.orders
    return order


def q(value: float, code: str | None = None, unit: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    if code:
        out |= {"system": "http://unitsofmeasure.org", "code": code}
    if unit:
        out["unit"] = unit
    return out


def every(frequency: int, period: float, unit: str, **extra: Any) -> dict[str, Any]:
    return {"repeat": {"frequency": frequency, "period": period, "periodUnit": unit, **extra}}


def test_request_fields() -> None:
    order = one_order(
        request(
            {"doseAndRate": [{"doseQuantity": q(5, "mg")}], "timing": every(1, 6, "h")},
            category=[{"coding": [{"code": "community"}]}],
            dispenseRequest={
                "validityPeriod": {"start": "2024-05-02", "end": "2024-06-01"},
                "quantity": q(60, unit="tablet"),
                "expectedSupplyDuration": {"value": 2, "unit": "weeks", "code": "wk"},
            },
            medicationCodeableConcept={
                "coding": [
                    {"system": "urn:oid:2.16.840.1.113883.6.69", "code": "00406-0552-01"},
                    {"system": RX, "code": "1049621"},
                    {"system": "http://local.example/meds", "code": "X1"},
                ],
                "text": "oxycodone 5 mg tab",
            },
        )
    )
    assert order.reference == "MedicationRequest/mr-1"
    assert order.source is OrderSource.REQUEST
    assert order.codes == (Code(RXNORM, "1049621"), Code(NDC, "00406-0552-01"))
    assert order.text == "oxycodone 5 mg tab"
    assert (order.status, order.intent, order.categories) == ("active", "order", ("community",))
    assert order.start == date(2024, 5, 1)  # authoredOn wins, local day kept
    assert order.end == date(2024, 6, 1)
    assert order.supply_days == 14
    assert order.quantity == Amount(60, "tablet")
    assert order.dosage is not None
    assert order.dosage.dose == Amount(5, "mg")
    assert order.dosage.doses_per_day == 4
    assert order.problem is None


def test_reason_codes_are_read() -> None:
    order = one_order(
        request(
            reasonCode=[
                {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F11.20"}]},
                {"text": "no coding"},
            ]
        )
    )
    assert order.reasons == (Code("http://hl7.org/fhir/sid/icd-10-cm", "F11.20"),)
    assert one_order(request()).reasons == ()


def test_start_falls_back_to_validity_period() -> None:
    resource = request(dispenseRequest={"validityPeriod": {"start": "2024-05-03"}})
    del resource["authoredOn"]
    assert one_order(resource).start == date(2024, 5, 3)


@pytest.mark.parametrize(
    ("supply", "days"),
    [
        ({"value": 30, "code": "d"}, 30),
        ({"value": 1, "code": "mo"}, 30),
        ({"value": 72, "unit": "hours"}, 3),
    ],
)
def test_supply_duration_units(supply: dict[str, Any], days: float) -> None:
    order = one_order(request(dispenseRequest={"expectedSupplyDuration": supply}))
    assert order.supply_days == pytest.approx(days)


@pytest.mark.parametrize(
    ("dosage", "dose", "per_day"),
    [
        # mg
        (
            {"doseAndRate": [{"doseQuantity": q(10, "mg")}], "timing": every(2, 1, "d")},
            Amount(10, "mg"),
            2,
        ),
        # mL of a liquid
        (
            {"doseAndRate": [{"doseQuantity": q(5, "mL")}], "timing": every(1, 4, "h")},
            Amount(5, "mL"),
            6,
        ),
        # tablet count: the UCUM code wins over the printed unit
        (
            {"doseAndRate": [{"doseQuantity": q(2, "{tbl}", "TAB")}], "timing": every(3, 1, "d")},
            Amount(2, "{tbl}"),
            3,
        ),
        # unit only (Epic TAB) and a unitless Synthea dose
        (
            {"doseAndRate": [{"doseQuantity": q(1, unit="TAB")}], "timing": every(1, 1, "d")},
            Amount(1, "TAB"),
            1,
        ),
        (
            {"doseAndRate": [{"doseQuantity": {"value": 1}}], "timing": every(1, 12, "h")},
            Amount(1),
            2,
        ),
        # doseRange: the upper end
        (
            {
                "doseAndRate": [{"doseRange": {"low": q(1, "{tbl}"), "high": q(2, "{tbl}")}}],
                "timing": every(1, 4, "h"),
            },
            Amount(2, "{tbl}"),
            6,
        ),
        # weekly and monthly periods (month = 30 days)
        (
            {"doseAndRate": [{"doseQuantity": q(1, "{tbl}")}], "timing": every(1, 1, "wk")},
            Amount(1, "{tbl}"),
            1 / 7,
        ),
        (
            {"doseAndRate": [{"doseQuantity": q(1, "{tbl}")}], "timing": every(3, 1, "mo")},
            Amount(1, "{tbl}"),
            0.1,
        ),
        # timeOfDay or when only
        (
            {
                "doseAndRate": [{"doseQuantity": q(15, "mg")}],
                "timing": {"repeat": {"timeOfDay": ["08:00:00", "20:00:00"]}},
            },
            Amount(15, "mg"),
            2,
        ),
        (
            {
                "doseAndRate": [{"doseQuantity": q(15, "mg")}],
                "timing": {"repeat": {"when": ["MORN", "AFT", "EVE"]}},
            },
            Amount(15, "mg"),
            3,
        ),
        # Timing.code abbreviation only
        (
            {
                "doseAndRate": [{"doseQuantity": q(5, "mg")}],
                "timing": {"code": {"coding": [{"code": "BID"}]}},
            },
            Amount(5, "mg"),
            2,
        ),
    ],
)
def test_structured_dosage_shapes(dosage: dict[str, Any], dose: Amount, per_day: float) -> None:
    order = one_order(request(dosage))
    assert order.problem is None
    assert order.dosage is not None
    assert order.dosage.dose == dose
    assert order.dosage.doses_per_day == pytest.approx(per_day)
    assert order.dosage.from_text is False
    assert order.dosage.interval_days is None


def test_several_dose_and_rate_prefer_the_ordered_one() -> None:
    epic = "http://epic.com/CodeSystem/dose-rate-type"
    dosage: dict[str, Any] = {
        "timing": every(1, 6, "h"),
        "doseAndRate": [
            {
                "type": {"coding": [{"system": epic, "code": "calculated"}]},
                "doseQuantity": q(7.5, "mg"),
            },
            {
                "type": {"coding": [{"system": epic, "code": "admin-amount"}]},
                "doseQuantity": q(1, "{tbl}"),
            },
            {"type": {"text": "ordered"}, "doseQuantity": q(5, "mg")},
        ],
    }
    assert one_order(request(dosage)).dosage.dose == Amount(5, "mg")  # type: ignore[union-attr]
    dosage["doseAndRate"][2]["type"] = {"coding": [{"system": epic, "code": "ordered"}]}
    assert one_order(request(dosage)).dosage.dose == Amount(5, "mg")  # type: ignore[union-attr]


def test_prn_with_frequency_max_and_max_dose_per_period() -> None:
    dosage = {
        "asNeededCodeableConcept": {"text": "pain"},
        "timing": {
            "repeat": {
                "frequency": 1,
                "frequencyMax": 2,
                "period": 4,
                "periodMax": 6,
                "periodUnit": "h",
            }
        },
        "doseAndRate": [{"doseQuantity": q(1, "{tbl}")}],
        "maxDosePerPeriod": {"numerator": q(8, "{tbl}"), "denominator": q(24, "h")},
    }
    order = one_order(request(dosage))
    assert order.dosage is not None
    assert order.dosage.as_needed is True
    assert order.dosage.doses_per_day == 12  # frequencyMax 2 per shortest period 4 h
    assert order.dosage.max_per_day == Amount(8, "{tbl}")


def test_fentanyl_patch_every_72_hours_sets_the_interval() -> None:
    dosage = {
        "route": {"coding": [{"system": "http://snomed.info/sct", "code": "45890007"}]},
        "doseAndRate": [{"doseQuantity": q(1, "{patch}")}],
        "timing": every(1, 72, "h"),
    }
    order = one_order(request(dosage, medicationCodeableConcept=FENTANYL))
    assert order.dosage is not None
    assert order.dosage.doses_per_day == pytest.approx(1 / 3)
    assert order.dosage.interval_days == pytest.approx(3.0)


def test_text_only_dosage_is_parsed_and_marked() -> None:
    order = one_order(request({"text": "1 tab po q6h prn"}))
    assert order.problem is None
    assert order.dosage is not None
    assert order.dosage.from_text is True
    assert order.dosage.dose == Amount(1, "{tbl}")
    assert order.dosage.doses_per_day == 4
    assert order.dosage.as_needed is True
    assert order.dosage.text == "1 tab po q6h prn"


def test_text_fills_only_what_structure_lacks() -> None:
    order = one_order(
        request(
            {"text": "take 2 tablets every 8 hours", "doseAndRate": [{"doseQuantity": q(10, "mg")}]}
        )
    )
    assert order.dosage is not None
    assert order.dosage.dose == Amount(10, "mg")
    assert order.dosage.doses_per_day == 3
    assert order.dosage.from_text is True


def test_unreadable_sig_sets_the_problem() -> None:
    order = one_order(request({"text": "take as directed"}))
    assert order.problem is not None
    assert "as directed" in order.problem


def test_dose_range_without_upper_end_is_a_problem() -> None:
    dosage = {"doseAndRate": [{"doseRange": {"low": q(1, "{tbl}")}}], "timing": every(1, 4, "h")}
    assert one_order(request(dosage)).problem == "the dose range has no upper limit"


def test_no_directions_is_left_to_the_mme_engine() -> None:
    order = one_order(request())
    assert order.dosage is None
    assert order.problem is None


# --- medicationReference -------------------------------------------------------------------


def by_reference(ref: str, **extra: Any) -> dict[str, Any]:
    resource = request(
        {"doseAndRate": [{"doseQuantity": q(5, "mg")}], "timing": every(4, 1, "d")}, **extra
    )
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": ref, "display": "oxycodone"}
    return resource


def test_reference_to_contained_medication() -> None:
    resource = by_reference(
        "#med", contained=[{"resourceType": "Medication", "id": "med", "code": OXY}]
    )
    assert one_order(resource).codes == (Code(RXNORM, "1049621", "oxycodone 5 MG Oral Tablet"),)


def test_reference_to_prefetched_medication_by_absolute_url() -> None:
    meds = {
        "resourceType": "Bundle",
        "entry": [
            {
                "fullUrl": "https://ehr.example/fhir/Medication/m9",
                "resource": {"resourceType": "Medication", "id": "m9", "code": OXY},
                "search": {"mode": "include"},
            },
            {"resource": by_reference("https://ehr.example/fhir/Medication/m9")},
        ],
    }
    timeline = build_timeline({"medicationRequests": meds}, None, AS_OF)
    (order,) = timeline.orders
    assert order.codes[0].code == "1049621"
    assert order.problem is None


def test_reference_to_a_medication_entry_in_draft_orders() -> None:
    draft = by_reference("Medication/epic-1", status="draft")
    draft_orders = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": draft},
            {"resource": {"resourceType": "Medication", "id": "epic-1", "code": OXY}},
        ],
    }
    timeline = build_timeline({}, draft_orders, AS_OF)
    assert timeline.orders == ()
    (order,) = timeline.drafts
    assert order.source is OrderSource.DRAFT
    assert order.codes[0].code == "1049621"
    assert order.dosage is not None
    assert order.dosage.doses_per_day == 4


def test_unresolved_reference_is_a_problem() -> None:
    order = one_order(by_reference("Medication/nowhere"))
    assert order.codes == ()
    assert order.text == "oxycodone"
    assert order.problem == "the referenced Medication is not in the record"


def test_draft_without_dates_starts_on_as_of() -> None:
    draft = request({"text": "5 mg q6h"}, status="draft")
    del draft["authoredOn"]
    timeline = build_timeline({}, {"resourceType": "Bundle", "entry": [{"resource": draft}]}, AS_OF)
    assert timeline.drafts[0].start == AS_OF


# --- MedicationDispense -----------------------------------------------------------------------


def test_dispense() -> None:
    dispense = {
        "resourceType": "MedicationDispense",
        "id": "md-1",
        "status": "completed",
        "medicationCodeableConcept": OXY,
        "quantity": q(60, "{tbl}"),
        "daysSupply": {"value": 15},
        "whenHandedOver": "2024-05-03T16:00:00Z",
        "authorizingPrescription": [{"reference": "MedicationRequest/mr-1"}],
    }
    timeline = build_timeline({"medicationDispenses": dispense}, None, AS_OF)
    (order,) = timeline.orders
    assert order.source is OrderSource.DISPENSE
    assert order.reference == "MedicationDispense/md-1"
    assert (order.start, order.supply_days, order.quantity) == (
        date(2024, 5, 3),
        15,
        Amount(60, "{tbl}"),
    )
    assert order.status == "completed"
    assert order.dosage is None
    assert order.problem is None
