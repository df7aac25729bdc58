"""Micro-benchmark: orjson.loads vs our parse + normalise of prefetch Bundles.

Builds a *typical* (50 MedicationRequests + 150 pain Observations) and a *heavy*
(300 + 600) searchset Bundle shaped like Epic/Cerner output (narrative, identifiers,
Epic's three ``doseAndRate`` entries, varied dates, doses, encounters and scores), then
prints the best-of-N time of:

* ``orjson.loads`` of the bytes (the floor: the service decodes once);
* ``build_timeline`` on the decoded JSON (our projected, per-resource R4B validation
  plus normalisation into ``PatientTimeline``);
* for reference, full R4B ``model_validate`` of every entry (what docs/tooling.md
  measured at ~75x orjson).

Run: ``.venv/bin/python bench/parse_bench.py [--runs 30]`` (or ``-m bench.parse_bench``);
``bench.run`` calls :func:`measure_case` and puts the figures in its table.
"""

from __future__ import annotations

import argparse
import copy
import gc
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.fhir.resources import MedicationRequest, Observation  # R4B, re-exported
from service.normalize.timeline import build_timeline

MEDS = [
    ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet", 5, "mg"),
    ("856987", "hydrocodone bitartrate 5 MG / acetaminophen 325 MG Oral Tablet", 1, "{tbl}"),
    ("1860154", "Abuse-Deterrent 12 HR Oxycodone Hydrochloride 15 MG ER Tablet", 15, "mg"),
    ("197696", "tramadol hydrochloride 50 MG Oral Tablet", 50, "mg"),
    ("892494", "morphine sulfate 15 MG Extended Release Oral Tablet", 15, "mg"),
]


def _request(i: int) -> dict[str, Any]:
    rxcui, name, dose, unit = MEDS[i % len(MEDS)]
    day = date.fromordinal(date(2024, 1, 1).toordinal() + 7 * i)
    hours = (4, 6, 8, 12)[i % 4]
    dose_value = dose * (1 + i % 2)
    return {
        "resourceType": "MedicationRequest",
        "id": f"mr-{i}",
        "meta": {"versionId": "3", "lastUpdated": f"{day}T10:00:00Z"},
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{name}</div>',
        },
        "identifier": [
            {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.798268", "value": str(9000 + i)}
        ],
        "status": "active" if i % 5 else "completed",
        "intent": "order",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                        "code": "community",
                        "display": "Community",
                    }
                ],
                "text": "Community",
            }
        ],
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": rxcui,
                    "display": name,
                }
            ],
            "text": name,
        },
        "subject": {"reference": "Patient/p1", "display": "Doe, Jane"},
        "encounter": {"reference": f"Encounter/e{i}"},
        "authoredOn": f"{day}T09:12:00Z",
        "requester": {"reference": "Practitioner/pr1", "display": "Dr X"},
        "dosageInstruction": [
            {
                "text": f"Take {dose_value} {unit} by mouth every {hours} hours as needed",
                "timing": {"repeat": {"frequency": 1, "period": hours, "periodUnit": "h"}},
                "asNeededBoolean": True,
                "route": {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral"}
                    ]
                },
                "doseAndRate": [
                    {
                        "type": {
                            "coding": [
                                {"system": "http://epic.com/CodeSystem/dose-rate-type", "code": t}
                            ],
                            "text": t,
                        },
                        "doseQuantity": {
                            "value": dose_value,
                            "unit": unit,
                            "system": "http://unitsofmeasure.org",
                            "code": unit,
                        },
                    }
                    for t in ("calculated", "admin-amount", "ordered")
                ],
            }
        ],
        "dispenseRequest": {
            "validityPeriod": {
                "start": str(day),
                "end": str(date.fromordinal(day.toordinal() + 30)),
            },
            "numberOfRepeatsAllowed": 0,
            "quantity": {"value": 30 + i % 60, "unit": "tablet"},
            "expectedSupplyDuration": {
                "value": 15,
                "unit": "Day",
                "system": "http://unitsofmeasure.org",
                "code": "d",
            },
        },
    }


def _observation(i: int) -> dict[str, Any]:
    day = date.fromordinal(date(2024, 1, 1).toordinal() + 2 * i % 700)
    return {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "meta": {"lastUpdated": f"{day}T10:00:00Z"},
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "72514-3",
                    "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                }
            ],
            "text": "Pain score",
        },
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": f"Encounter/e{i // 2}"},
        "effectiveDateTime": f"{day}T10:{i % 60:02d}:00-05:00",
        "issued": f"{day}T10:{i % 60:02d}:30.000-05:00",
        "performer": [{"reference": "Practitioner/pr1"}],
        "valueQuantity": {
            "value": i % 11,
            "unit": "{score}",
            "system": "http://unitsofmeasure.org",
            "code": "{score}",
        },
    }


def bundle(requests: int, observations: int) -> tuple[bytes, bytes]:
    def searchset(resources: list[dict[str, Any]]) -> bytes:
        entries = [
            {
                "fullUrl": f"https://ehr.example/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ]
        return orjson.dumps(
            {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
        )

    return (
        searchset([_request(i) for i in range(requests)]),
        searchset([_observation(i) for i in range(observations)]),
    )


def best_ms(fn: Callable[[], object], runs: int) -> float:
    """Fastest of ``runs`` (less sensitive than the median to other load on the machine)."""
    fn()  # warm up (imports, schema build)
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


CASES = {"typical": (50, 150), "heavy": (300, 600)}


def measure_case(n_req: int, n_obs: int, runs: int) -> dict[str, float]:
    """Best-of-``runs`` ms of orjson, parse+normalise and full R4B for one case (and KiB)."""
    meds, pain = bundle(n_req, n_obs)

    def decode() -> tuple[Any, Any]:
        return orjson.loads(meds), orjson.loads(pain)

    def ours() -> None:
        slots = {"medicationRequests": orjson.loads(meds), "painObservations": orjson.loads(pain)}
        timeline = build_timeline(slots, None, date(2026, 1, 1))
        assert len(timeline.orders) + len(timeline.pain_scores) == n_req + n_obs

    def full() -> None:
        for entry in orjson.loads(meds)["entry"]:
            MedicationRequest.model_validate(copy.copy(entry["resource"]))
        for entry in orjson.loads(pain)["entry"]:
            Observation.model_validate(copy.copy(entry["resource"]))

    return {
        "kib": (len(meds) + len(pain)) / 1024,
        "orjson_ms": best_ms(decode, runs),
        "parse_normalise_ms": best_ms(ours, runs),
        "full_r4b_ms": best_ms(full, max(5, runs // 3)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(
        f"{'case':8} {'KiB':>6} {'orjson ms':>10} {'parse+normalise ms':>19} {'ratio':>6}"
        f" {'full R4B ms':>12} {'ratio':>6}"
    )
    for name, (n_req, n_obs) in CASES.items():
        m = measure_case(n_req, n_obs, args.runs)
        t_json, t_ours, t_full = m["orjson_ms"], m["parse_normalise_ms"], m["full_r4b_ms"]
        print(
            f"{name:8} {int(m['kib']):6d} {t_json:10.2f} {t_ours:19.2f} {t_ours / t_json:5.1f}x"
            f" {t_full:12.2f} {t_full / t_json:5.1f}x"
        )


if __name__ == "__main__":
    main()
