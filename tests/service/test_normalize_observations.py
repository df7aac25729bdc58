"""Pain Observations → PainScore, labs → LabResult, with encounter setting and data gaps."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from rules.timeline import PainInstrument, PatientTimeline
from service.catalog import PAIN_LOINC_CODES
from service.normalize.observations import PAIN_CODES
from service.normalize.timeline import build_timeline

AS_OF = date(2024, 6, 1)
LOINC = "http://loinc.org"


def obs(code: str, value: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"o-{code}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": "2024-05-10T23:30:00-05:00",
    }
    resource.update(
        value if value is not None else {"valueQuantity": {"value": 6, "code": "{score}"}}
    )
    resource.update(extra)
    return resource


def encounter(eid: str, cls: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": cls},
        "period": {"start": "2024-05-10T20:00:00-05:00"},
    }


def timeline_of(
    *observations: dict[str, Any], encounters: tuple[dict[str, Any], ...] = ()
) -> PatientTimeline:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": r} for r in observations]}
    enc = {"resourceType": "Bundle", "entry": [{"resource": r} for r in encounters]}
    return build_timeline({"painObservations": bundle, "encounters": enc}, None, AS_OF)


def test_nrs_score_keeps_its_local_day() -> None:
    (score,) = timeline_of(obs("72514-3")).pain_scores
    assert (score.day, score.value, score.instrument, score.code) == (
        date(2024, 5, 10),
        6.0,
        PainInstrument.NRS,
        "72514-3",
    )
    assert score.reference == "Observation/o-72514-3"


def test_ed_encounter_pain_score_carries_emer_class() -> None:
    ed = obs("72514-3", encounter={"reference": "Encounter/ed-1"})
    clinic = obs("91147-9", encounter={"reference": "urn:uuid:amb-1"})
    amb = encounter("amb-1", "AMB")
    enc_bundle_entry = {"fullUrl": "urn:uuid:amb-1", "resource": amb}
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"resource": encounter("ed-1", "EMER")}, enc_bundle_entry],
    }
    pain = {"resourceType": "Bundle", "entry": [{"resource": ed}, {"resource": clinic}]}
    timeline = build_timeline({"painObservations": pain, "encounters": bundle}, None, AS_OF)
    classes = {s.code: s.encounter_class for s in timeline.pain_scores}
    assert classes == {"72514-3": "EMER", "91147-9": "AMB"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueQuantity": {"value": 7}}, 7.0),
        ({"valueQuantity": {"value": 1.0853}}, 1.0853),  # Synthea v2.4.0 floats
        ({"valueInteger": 4}, 4.0),
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": LOINC, "code": "LA10139-6", "display": "7"}]
                }
            },
            7.0,
        ),
        ({"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA13942-0"}]}}, 10.0),
        (
            {
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://example.org/answers",
                            "code": "severe",
                            "extension": [
                                {
                                    "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                                    "valueDecimal": 8,
                                }
                            ],
                        }
                    ]
                }
            },
            8.0,
        ),
        ({"valueCodeableConcept": {"text": "3"}}, 3.0),
    ],
)
def test_value_shapes(value: dict[str, Any], expected: float) -> None:
    (score,) = timeline_of(obs("72514-3", value)).pain_scores
    assert score.value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("code", "instrument"),
    [
        ("91147-9", PainInstrument.PEG),
        ("75893-8", PainInstrument.PEG),
        ("91145-3", PainInstrument.OTHER),
        ("38221-8", PainInstrument.FACES),
        ("75260-0", PainInstrument.PROMIS),
        ("38208-5", PainInstrument.OTHER),  # generic severity: scale unknown
    ],
)
def test_instruments(code: str, instrument: PainInstrument) -> None:
    (score,) = timeline_of(obs(code)).pain_scores
    assert score.instrument is instrument


def test_generic_severity_is_nrs_when_the_record_says_0_to_10() -> None:
    resource = obs("38208-5", referenceRange=[{"low": {"value": 0}, "high": {"value": 10}}])
    (score,) = timeline_of(resource).pain_scores
    assert score.instrument is PainInstrument.NRS


def test_every_prefetched_pain_code_is_understood() -> None:
    assert {code for _, code in PAIN_CODES} >= set(PAIN_LOINC_CODES)


def test_peg_panel_components_become_scores() -> None:
    panel = obs(
        "91148-7",
        {},
        component=[
            {"code": {"coding": [{"system": LOINC, "code": "75893-8"}]}, "valueInteger": 6},
            {"code": {"coding": [{"system": LOINC, "code": "91145-3"}]}, "valueInteger": 5},
            {"code": {"coding": [{"system": LOINC, "code": "91146-1"}]}, "valueInteger": 4},
        ],
    )
    scores = timeline_of(panel).pain_scores
    assert [(s.code, s.value, s.instrument) for s in scores] == [
        ("75893-8", 6.0, PainInstrument.PEG),
        ("91145-3", 5.0, PainInstrument.OTHER),
        ("91146-1", 4.0, PainInstrument.OTHER),
    ]


@pytest.mark.parametrize("status", ["preliminary", "entered-in-error", "cancelled", "registered"])
def test_only_final_amended_corrected_count(status: str) -> None:
    assert timeline_of(obs("72514-3", status=status)).pain_scores == ()


@pytest.mark.parametrize("status", ["amended", "corrected"])
def test_amended_and_corrected_count(status: str) -> None:
    assert len(timeline_of(obs("72514-3", status=status)).pain_scores) == 1


def test_out_of_range_is_a_gap_not_a_clipped_value() -> None:
    timeline = timeline_of(obs("72514-3", {"valueQuantity": {"value": 45}}))
    assert timeline.pain_scores == ()
    (gap,) = timeline.gaps
    assert gap.code == "pain-score-out-of-range"
    assert "45" not in gap.message


@pytest.mark.parametrize(
    ("when", "day"),
    [
        (
            {"effectivePeriod": {"start": "2024-05-09T10:00:00Z", "end": "2024-05-09T11:00:00Z"}},
            date(2024, 5, 9),
        ),
        ({"issued": "2024-05-08T10:00:00.000Z"}, date(2024, 5, 8)),
    ],
)
def test_day_from_period_or_issued(when: dict[str, Any], day: date) -> None:
    resource = obs("72514-3")
    del resource["effectiveDateTime"]
    resource.update(when)
    assert timeline_of(resource).pain_scores[0].day == day


def test_partial_date_and_future_date_are_gaps() -> None:
    partial = obs("72514-3", effectiveDateTime="2024-05")
    future = obs("91147-9", effectiveDateTime="2024-07-01")
    timeline = timeline_of(partial, future)
    assert timeline.pain_scores == ()
    assert sorted(g.code for g in timeline.gaps) == ["future-dated", "pain-score-without-date"]


def test_missing_value_is_a_gap() -> None:
    resource = obs("72514-3", {"dataAbsentReason": {"text": "asked but declined"}})
    timeline = timeline_of(resource)
    assert [g.code for g in timeline.gaps] == ["unreadable-pain-score"]


def test_other_observations_are_not_read_at_all() -> None:
    bp = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "oops": 1,
    }
    timeline = timeline_of(bp, obs("72514-3"))
    assert len(timeline.pain_scores) == 1
    assert timeline.gaps == ()


def test_labs() -> None:
    egfr = obs(
        "98979-8",
        {"valueQuantity": {"value": 42, "unit": "mL/min/1.73m2", "code": "mL/min/{1.73_m2}"}},
    )
    qtc = obs("8636-3", {"valueQuantity": {"value": 480, "unit": "ms"}})
    text_egfr = obs("33914-3", {"valueString": ">60 mL/min"}, id="o-text")
    labs = build_timeline(
        {
            "labObservations": {
                "resourceType": "Bundle",
                "entry": [{"resource": r} for r in (egfr, qtc, text_egfr)],
            }
        },
        None,
        AS_OF,
    ).labs
    assert sorted((lab.code, lab.value, lab.unit) for lab in labs) == [
        ("33914-3", 60.0, "mL/min"),
        ("8636-3", 480.0, "ms"),
        ("98979-8", 42.0, "mL/min/{1.73_m2}"),
    ]
