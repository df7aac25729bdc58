"""Realistic ``order-sign`` hook requests with full prefetch, at three sizes.

One synthetic patient on long-term opioid therapy over the year before ``as_of``:
an oxycodone chain of 30-day fills escalated twice (30 → 60 → 120 MME/day), short
hydrocodone/APAP and tramadol courses, ibuprofen, inpatient orders during hospital
stays, ambulatory visits with NRS pain scores (LOINC 72514-3) that rise with the
dose, problem-list and encounter-diagnosis Conditions, eGFR results, pharmacy fills
and a few procedures. The hook signs a draft escalation to oxycodone 30 mg QID.

===========  ===================  ====================  ===========================
size         MedicationRequests   pain Observations     also
===========  ===================  ====================  ===========================
small        10                   20                    Conditions, Encounters, ...
typical      50                   150                   (scaled)
heavy        300                  600                   about 0.5 MB of JSON
===========  ===================  ====================  ===========================

Everything is a pure function of ``(size, as_of, seed)``: the RxCUIs come from
``service/scenarios/data/drugs.yaml``, every date is ``as_of`` minus a day offset
(no calendar date is written here), the hookInstance is drawn from the seeded RNG.

Command line::

    python -m bench.generate --size typical [--as-of 2026-01-31] [--out req.json] [--check]

``--check`` validates resources with fhir.resources R4B, the request with the
service's own parser, and the timeline built from it (no invalid-resource gaps).
"""

from __future__ import annotations

import argparse
import random
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

import orjson

from service.catalog import PREFETCH_TEMPLATES
from service.clock import system_clock
from service.scenarios import drugs
from service.scenarios.model import DrugInfo

__all__ = [
    "BASE_URL",
    "PATIENT_ID",
    "SIZES",
    "Chart",
    "SizeSpec",
    "build_chart",
    "generate",
    "generate_bytes",
    "self_check",
]

RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM: Final = "http://unitsofmeasure.org"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
MR_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VER: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
ORDER_ID_SYSTEM: Final = "urn:oid:2.16.840.1.113883.19.5.1"  # HL7 example OID arc
MRN_SYSTEM: Final = "urn:oid:2.16.840.1.113883.19.5"

BASE_URL: Final = "https://ehr.example.org/fhir/R4"
PATIENT_ID: Final = "bench-pat-1"
USER_ID: Final = "Practitioner/bench-dr-1"
DEFAULT_SEED: Final = 20240229


@dataclass(frozen=True)
class SizeSpec:
    """How many resources of each kind one request's prefetch holds."""

    name: str
    requests: int  # MedicationRequests (history, not counting the draft)
    pain: int  # NRS pain Observations
    conditions: int
    encounters: int
    labs: int
    dispenses: int
    procedures: int


SIZES: Final[Mapping[str, SizeSpec]] = {
    "small": SizeSpec("small", 10, 20, 4, 14, 2, 4, 1),
    "typical": SizeSpec("typical", 50, 150, 12, 60, 4, 12, 3),
    "heavy": SizeSpec("heavy", 300, 600, 30, 120, 12, 24, 6),
}

# (ICD-10-CM code, display, SNOMED code or None, SNOMED display)
_PROBLEMS: Final = (
    ("G89.29", "Other chronic pain", "82423001", "Chronic pain"),
    ("M54.50", "Low back pain, unspecified", "279039007", "Low back pain"),
    ("M17.11", "Unilateral primary osteoarthritis, right knee", "239873007", "Knee osteoarthritis"),
    ("M47.816", "Spondylosis without myelopathy or radiculopathy, lumbar region", None, ""),
    ("I10", "Essential (primary) hypertension", "59621000", "Essential hypertension"),
    ("E11.9", "Type 2 diabetes mellitus without complications", "44054006", "Type 2 diabetes"),
    ("E78.5", "Hyperlipidemia, unspecified", None, ""),
    ("K59.03", "Drug induced constipation", None, ""),
    ("F41.1", "Generalized anxiety disorder", None, ""),
)  # fmt: skip


@dataclass
class Chart:
    """One patient's record at ``as_of``: prefetch slot → resources, plus the draft."""

    size: SizeSpec
    as_of: date
    patient: dict[str, Any]
    slots: dict[str, list[dict[str, Any]]]
    draft: dict[str, Any]
    context_encounter_id: str
    hook_instance: str

    def resources(self) -> list[dict[str, Any]]:
        """Every resource of the record (not the draft), for a FHIR test server."""
        out = [self.patient]
        for name in PREFETCH_TEMPLATES:
            if name != "patient":
                out.extend(self.slots.get(name, []))
        return out


@dataclass
class _Enc:
    id: str
    cls: str  # AMB, EMER, IMP
    start: int  # day offset (≤ 0)
    end: int
    in_progress: bool = False
    pain_slots: list[tuple[int, int]] = field(default_factory=list)  # (day, minute of day)


class _Builder:
    def __init__(self, size: SizeSpec, as_of: date, seed: int) -> None:
        self.size = size
        self.as_of = as_of
        self.rng = random.Random(f"{seed}:{size.name}")
        self.counters: dict[str, int] = {}
        self.drugs = drugs()

    # ---------------------------------------------------------------- helpers
    def next_id(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"bench-{kind}-{self.counters[kind]}"

    def day(self, offset: int) -> str:
        return (self.as_of + timedelta(days=offset)).isoformat()

    def instant(self, offset: int, minute: int) -> str:
        hh, mm = divmod(minute % (24 * 60), 60)
        return f"{self.day(offset)}T{hh:02d}:{mm:02d}:00Z"

    def drug(self, key: str) -> DrugInfo:
        return self.drugs[key]

    @staticmethod
    def cc(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
        concept: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
        if text:
            concept["text"] = text
        return concept

    @staticmethod
    def qty(value: float, unit: str, code: str) -> dict[str, Any]:
        rounded = round(value, 2)
        number: float | int = int(rounded) if float(rounded).is_integer() else rounded
        return {"value": number, "unit": unit, "system": UCUM, "code": code}

    # ------------------------------------------------------------- encounters
    def encounters(self) -> list[_Enc]:
        total = self.size.encounters
        n_imp = total // 30
        n_emer = total // 15
        n_amb = total - n_imp - n_emer
        out: list[_Enc] = []
        # Ambulatory visits spread over the year; the last one is today's (in progress).
        for k in range(n_amb - 1):
            start = -364 + (k * 360) // max(1, n_amb - 1) + self.rng.randint(0, 3)
            out.append(_Enc(self.next_id("enc"), "AMB", min(start, -1), min(start, -1)))
        # ED visits and hospital stays lie in the first half of the year, so that the
        # service sees no acute cause for the recent pain rise (the OIH rules then run).
        for _ in range(n_emer):
            day = self.rng.randint(-350, -200)
            out.append(_Enc(self.next_id("enc"), "EMER", day, day))
        for k in range(n_imp):
            start = -350 + (k * 140) // max(1, n_imp) + self.rng.randint(0, 5)
            out.append(_Enc(self.next_id("enc"), "IMP", start, start + self.rng.randint(3, 6)))
        out.append(_Enc(self.next_id("enc"), "AMB", 0, 0, in_progress=True))
        return out

    def encounter_resource(self, enc: _Enc) -> dict[str, Any]:
        display = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient encounter"}
        kind = {"AMB": "Office visit", "EMER": "Emergency department visit", "IMP": "Admission"}
        period: dict[str, str] = {"start": self.instant(enc.start, 8 * 60 + 30)}
        if not enc.in_progress:
            period["end"] = self.instant(enc.end, 9 * 60 + 15 if enc.cls == "AMB" else 14 * 60)
        res: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": enc.id,
            "status": "in-progress" if enc.in_progress else "finished",
            "class": {"system": ACT_CODE, "code": enc.cls, "display": display[enc.cls]},
            "type": [{"text": kind[enc.cls]}],
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "period": period,
        }
        if enc.cls == "IMP":
            res["hospitalization"] = {
                "dischargeDisposition": self.cc(
                    "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                    "home",
                    "Home",
                    "Discharged home",
                )
            }
        return res

    # ------------------------------------------------------------ pain scores
    def pain_observations(self, encs: list[_Enc]) -> list[dict[str, Any]]:
        """One score per outpatient visit, q4h scores during stays, reassessments after."""
        slots: list[tuple[_Enc, int, int]] = []
        visits = [e for e in encs if e.cls != "IMP"]
        stays = [e for e in encs if e.cls == "IMP"]
        slots += [(e, e.start, 8 * 60 + 40) for e in visits]
        for stay in stays:
            for d in range(stay.start, stay.end + 1):
                slots += [(stay, d, 2 * 60 + 4 * 60 * k) for k in range(6)]
        reassess = 1
        while len(slots) < self.size.pain:  # reassessment 30 minutes later, and so on
            slots += [(e, e.start, 8 * 60 + 40 + 30 * reassess) for e in visits]
            reassess += 1
        # Keep today's visit and the first scores of every setting; drop at random evenly.
        chosen = slots[: len(visits)] + self.rng.sample(
            slots[len(visits) :], max(0, self.size.pain - len(visits))
        )
        chosen = chosen[: self.size.pain]
        out = []
        for n, (enc, d, minute) in enumerate(sorted(chosen, key=lambda s: (s[1], s[2]))):
            # Pain rises with each dose step (30 → 60 → 120 MME/day): the OIH pattern.
            base = {"oxycodone-5mg-tab": 4.5, "oxycodone-10mg-tab": 5.2}.get(_chain_drug(d), 7.6)
            score = base + self.rng.gauss(0, 0.7) + (1.5 if enc.cls != "AMB" else 0)
            value = max(0, min(10, round(score)))
            obs: dict[str, Any] = {
                "resourceType": "Observation",
                "id": self.next_id("pain"),
                "status": "final",
                "category": [self.cc(OBS_CATEGORY, "vital-signs", "Vital Signs")],
                "code": self.cc(
                    LOINC,
                    "72514-3",
                    "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                ),
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
                "encounter": {"reference": f"Encounter/{enc.id}"},
                "effectiveDateTime": self.instant(d, minute),
            }
            if n % 10 == 9:  # some systems send a bare integer
                obs["valueInteger"] = value
            else:
                obs["valueQuantity"] = self.qty(value, "{score}", "{score}")
            out.append(obs)
        out.sort(key=lambda o: o["effectiveDateTime"], reverse=True)  # _sort=-date
        return out

    # ---------------------------------------------------------- medications
    def dosage(
        self, drug: DrugInfo, dose: float, unit: str, freq: int, period: int, prn: bool
    ) -> dict[str, Any]:
        ucum, human = {"tab": ("{tbl}", "tablet"), "mg": ("mg", "mg")}[unit]
        route = {
            "oral": ("26643006", "Oral route", "by mouth"),
            "subcutaneous": ("34206005", "Subcutaneous route", "under the skin"),
            "nasal": ("46713006", "Nasal route", "in one nostril"),
        }[drug.route]
        shown = f"{dose:g} {human}{'s' if unit == 'tab' and dose != 1 else ''}"
        text = f"Take {shown} {route[2]} every {period} hours" + (
            " as needed for pain" if prn else ""
        )
        return {
            "sequence": 1,
            "text": text,
            "timing": {"repeat": {"frequency": freq, "period": period, "periodUnit": "h"}},
            "asNeededBoolean": prn,
            "route": self.cc(SNOMED, route[0], route[1]),
            "doseAndRate": [{"doseQuantity": self.qty(dose, human, ucum)}],
        }

    def medication_request(
        self,
        key: str,
        start: int,
        supply: int,
        dose: float,
        unit: str,
        period: int,
        *,
        prn: bool,
        status: str,
        category: str = "community",
        encounter: str | None = None,
        draft: bool = False,
    ) -> dict[str, Any]:
        drug = self.drug(key)
        rid = self.next_id("draft" if draft else "mr")
        per_day = 24 / period
        units = dose if unit == "tab" else dose / drug.strength_value
        res: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": status,
            "intent": "order",
            "category": [self.cc(MR_CATEGORY, category, category.capitalize())],
            "medicationCodeableConcept": self.cc(RXNORM, drug.rxcui, drug.display),
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
        }
        if encounter is not None:
            res["encounter"] = {"reference": f"Encounter/{encounter}"}
        res["authoredOn"] = self.instant(start, 9 * 60 + 50)
        res["requester"] = {"reference": USER_ID}
        res["dosageInstruction"] = [self.dosage(drug, dose, unit, 1, period, prn)]
        supply_unit = {"tablet": ("{tbl}", "tablet"), "mL": ("mL", "mL")}[drug.unit]
        res["dispenseRequest"] = {
            "validityPeriod": {"start": self.day(start)},
            "numberOfRepeatsAllowed": 0,
            "quantity": self.qty(units * per_day * supply, supply_unit[1], supply_unit[0]),
            "expectedSupplyDuration": self.qty(supply, "days", "d"),
        }
        return res

    def medication_requests(self, stays: list[_Enc]) -> list[dict[str, Any]]:
        n = self.size.requests
        out: list[dict[str, Any]] = []
        # 1. The long-term oxycodone chain: 30-day fills ending today, escalated twice.
        chain = min(13, n)
        first = -30 * (chain - 1) - 15
        for k in range(chain):
            start = first + 30 * k
            key = _chain_drug(start)
            if start + 29 >= 0:
                status = "active"
            elif k + 1 < chain and _chain_drug(start + 30) != key:
                status = "stopped"  # replaced by the next, higher dose
            else:
                status = "completed"
            out.append(
                self.medication_request(key, start, 30, 1, "tab", 6, prn=False, status=status)
            )
        rest = n - chain
        if rest <= 0:
            return out
        # 2. The remainder: inpatient oral PRN orders (re-written daily during stays),
        #    breakthrough hydrocodone/APAP, ibuprofen, an early tramadol trial. (No
        #    injectables: they have no oral MME factor, so the service would answer only
        #    "MME incomplete" and skip the rules this benchmark should exercise.)
        n_inpatient = (rest * 45) // 100 if stays else 0
        n_tramadol = max(1, rest // 20)
        n_ibuprofen = (rest * 15) // 100
        n_break = rest - n_inpatient - n_tramadol - n_ibuprofen
        for k in range(n_inpatient):
            stay = stays[k % len(stays)]
            day = stay.start + (k // len(stays)) % (stay.end - stay.start + 1)
            key, dose, unit = self.rng.choice(
                [
                    ("hydromorphone-2mg-tab", 1.0, "tab"),
                    ("hydromorphone-2mg-tab", 2.0, "tab"),
                    ("oxycodone-5mg-tab", 1.0, "tab"),
                    ("oxycodone-5mg-tab", 2.0, "tab"),
                    ("ibuprofen-200mg-tab", 2.0, "tab"),
                ]
            )
            out.append(
                self.medication_request(
                    key,
                    day,
                    1,
                    dose,
                    unit,
                    4,
                    prn=True,
                    status=self.rng.choice(["completed", "completed", "stopped"]),
                    category="inpatient",
                    encounter=stay.id,
                )
            )
        for k in range(n_tramadol):
            day = -360 + 7 * k
            out.append(
                self.medication_request(
                    "tramadol-50mg-tab", day, 7, 1, "tab", 6, prn=True, status="stopped"
                )
            )
        for k in range(n_ibuprofen):
            day = -350 + (k * 350) // max(1, n_ibuprofen) + self.rng.randint(0, 5)
            status = "active" if day + 29 >= 0 else self.rng.choice(["completed"] * 5 + ["on-hold"])
            out.append(
                self.medication_request(
                    "ibuprofen-200mg-tab", day, 30, 2, "tab", 8, prn=True, status=status
                )
            )
        for k in range(n_break):
            day = -330 + (k * 320) // max(1, n_break) + self.rng.randint(0, 6)
            status = (
                "active"
                if day + 6 >= 0
                else self.rng.choice(["completed"] * 6 + ["stopped", "on-hold"])
            )
            out.append(
                self.medication_request(
                    "hydrocodone-apap-5-325-tab", day, 7, 1, "tab", 6, prn=True, status=status
                )
            )
        out.sort(key=lambda r: r["authoredOn"], reverse=True)
        return out

    def dispenses(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        community = [r for r in requests if r["category"][0]["coding"][0]["code"] == "community"]
        out = []
        for req in community[: self.size.dispenses]:
            start = date.fromisoformat(req["authoredOn"][:10])
            offset = (start - self.as_of).days
            days = req["dispenseRequest"]["expectedSupplyDuration"]["value"]
            out.append(
                {
                    "resourceType": "MedicationDispense",
                    "id": self.next_id("md"),
                    "status": "completed",
                    "medicationCodeableConcept": req["medicationCodeableConcept"],
                    "subject": {"reference": f"Patient/{PATIENT_ID}"},
                    "authorizingPrescription": [{"reference": f"MedicationRequest/{req['id']}"}],
                    "type": self.cc(ACT_CODE, "FF", "First Fill"),
                    "quantity": req["dispenseRequest"]["quantity"],
                    "daysSupply": self.qty(days, "days", "d"),
                    "whenPrepared": self.instant(offset, 15 * 60),
                    "whenHandedOver": self.instant(offset, 16 * 60),
                    "dosageInstruction": req["dosageInstruction"],
                }
            )
        return out

    # -------------------------------------------------------------- the rest
    def conditions(self, encs: list[_Enc]) -> list[dict[str, Any]]:
        visits = [e for e in encs if e.cls == "AMB" and not e.in_progress]
        out: list[dict[str, Any]] = []
        for k in range(self.size.conditions):
            icd, display, sct, sct_display = _PROBLEMS[k % len(_PROBLEMS)]
            codings = [{"system": ICD10CM, "code": icd, "display": display}]
            if sct is not None:
                codings.append({"system": SNOMED, "code": sct, "display": sct_display})
            problem = k < len(_PROBLEMS)
            res: dict[str, Any] = {
                "resourceType": "Condition",
                "id": self.next_id("cond"),
                "clinicalStatus": self.cc(COND_CLINICAL, "active", "Active"),
                "verificationStatus": self.cc(COND_VER, "confirmed", "Confirmed"),
                "category": [
                    self.cc(COND_CATEGORY, "problem-list-item", "Problem List Item")
                    if problem
                    else self.cc(COND_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")
                ],
                "code": {"coding": codings, "text": display},
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
            }
            if problem:
                onset = -400 - 90 * k
                res["onsetDateTime"] = self.day(onset)
                res["recordedDate"] = self.day(onset + 14)
            else:  # a diagnosis coded at a visit
                visit = visits[(k * 7) % len(visits)] if visits else encs[0]
                res["encounter"] = {"reference": f"Encounter/{visit.id}"}
                res["onsetDateTime"] = self.day(visit.start)
                res["recordedDate"] = self.day(visit.start)
            out.append(res)
        return out

    def labs(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for k in range(self.size.labs):
            day = -350 + (k * 340) // max(1, self.size.labs)
            out.append(
                {
                    "resourceType": "Observation",
                    "id": self.next_id("lab"),
                    "status": "final",
                    "category": [self.cc(OBS_CATEGORY, "laboratory", "Laboratory")],
                    "code": self.cc(
                        LOINC,
                        "98979-8",
                        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in "
                        "Serum, Plasma or Blood by Creatinine-based formula (CKD-EPI 2021)",
                    ),
                    "subject": {"reference": f"Patient/{PATIENT_ID}"},
                    "effectiveDateTime": self.instant(day, 7 * 60 + 45),
                    "valueQuantity": self.qty(
                        self.rng.randint(68, 92), "mL/min/1.73m2", "mL/min/{1.73_m2}"
                    ),
                }
            )
        out.sort(key=lambda o: o["effectiveDateTime"], reverse=True)
        return out

    def procedures(self) -> list[dict[str, Any]]:
        return [
            {
                "resourceType": "Procedure",
                "id": self.next_id("proc"),
                "status": "completed",
                "code": self.cc(
                    SNOMED, "91251008", "Physical therapy procedure", "Physical therapy"
                ),
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
                "performedDateTime": self.day(-300 + 35 * k),
            }
            for k in range(self.size.procedures)
        ][::-1]

    def patient(self) -> dict[str, Any]:
        birth = self.as_of - timedelta(days=int(56 * 365.25) + 97)
        return {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "identifier": [{"use": "usual", "system": MRN_SYSTEM, "value": "BENCH-000001"}],
            "active": True,
            "name": [{"use": "official", "family": "Benchpatient", "given": ["Robin"]}],
            "gender": "female",
            "birthDate": birth.isoformat(),
            "address": [{"use": "home", "city": "Springfield", "state": "IL", "country": "US"}],
        }

    def build(self) -> Chart:
        encs = self.encounters()
        stays = [e for e in encs if e.cls == "IMP"]
        pain = self.pain_observations(encs)
        requests = self.medication_requests(stays)
        today = next(e for e in encs if e.in_progress)
        slots = {
            "medicationRequests": requests,
            "medicationDispenses": self.dispenses(requests),
            "painObservations": pain,
            "labObservations": self.labs(),
            "conditions": self.conditions(encs),
            "encounters": sorted(
                (self.encounter_resource(e) for e in encs),
                key=lambda r: r["period"]["start"],
                reverse=True,
            ),
            "procedures": self.procedures(),
        }
        draft = self.medication_request(
            "oxycodone-30mg-tab",
            0,
            30,
            1,
            "tab",
            6,
            prn=False,
            status="draft",
            encounter=today.id,
            draft=True,
        )
        hook_instance = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        return Chart(self.size, self.as_of, self.patient(), slots, draft, today.id, hook_instance)


def _chain_drug(start: int) -> str:
    """Oxycodone 1 tab QID: 5 mg (30 MME/day), from day -240 10 mg (60), from -120 20 mg (120)."""
    if start < -240:
        return "oxycodone-5mg-tab"
    return "oxycodone-10mg-tab" if start < -120 else "oxycodone-20mg-tab"


def build_chart(size: str, as_of: date, *, seed: int = DEFAULT_SEED) -> Chart:
    """The synthetic record for ``size`` (``small``, ``typical`` or ``heavy``)."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    return _Builder(SIZES[size], as_of, seed).build()


def _searchset(name: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    query = PREFETCH_TEMPLATES[name].replace("{{context.patientId}}", PATIENT_ID)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": f"{BASE_URL}/{query}"}],
        "entry": [
            {
                "fullUrl": f"{BASE_URL}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def request_from_chart(
    chart: Chart, *, prefetch: bool = True, fhir_server: str | None = None
) -> dict[str, Any]:
    """The CDS Hooks 2.0 ``order-sign`` request body for ``chart``."""
    body: dict[str, Any] = {
        "hook": "order-sign",
        "hookInstance": chart.hook_instance,
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    body["context"] = {
        "userId": USER_ID,
        "patientId": PATIENT_ID,
        "encounterId": chart.context_encounter_id,
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": f"urn:uuid:{uuid.UUID(chart.hook_instance)}", "resource": chart.draft}
        ]},
    }  # fmt: skip
    if prefetch:
        body["prefetch"] = {
            name: (
                chart.patient if name == "patient" else _searchset(name, chart.slots.get(name, []))
            )
            for name in PREFETCH_TEMPLATES
        }
    return body


def generate(
    size: str,
    as_of: date,
    *,
    seed: int = DEFAULT_SEED,
    prefetch: bool = True,
    fhir_server: str | None = None,
) -> dict[str, Any]:
    """A complete ``order-sign`` request for ``size`` at ``as_of`` (see the module doc)."""
    chart = build_chart(size, as_of, seed=seed)
    return request_from_chart(chart, prefetch=prefetch, fhir_server=fhir_server)


def generate_bytes(size: str, as_of: date, **options: Any) -> bytes:
    return orjson.dumps(generate(size, as_of, **options))


def self_check(size: str, as_of: date, *, seed: int = DEFAULT_SEED, stride: int = 1) -> str:
    """Validate a request: R4B models, the service's parser and timeline. Returns a summary.

    Every ``stride``-th resource of each slot (and always the patient and the draft)
    is validated with ``fhir.resources.R4B``; raises ``AssertionError`` on a problem.
    """
    from fhir.resources.R4B import get_fhir_model_class

    from service.api.parsing import parse_hook_call
    from service.normalize.timeline import build_timeline

    request = generate(size, as_of, seed=seed)
    body = orjson.dumps(request)
    checked = 0
    resources = [request["prefetch"]["patient"], request["context"]["draftOrders"]["entry"][0]]
    resources[1] = resources[1]["resource"]
    for name, bundle in request["prefetch"].items():
        if name != "patient":
            resources += [e["resource"] for e in bundle["entry"]][::stride]
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        checked += 1
    call = parse_hook_call("oih-order-sign", body)
    timeline = build_timeline(
        call.request.prefetch or {},
        request["context"]["draftOrders"],
        as_of,
        context_encounter_id=request["context"]["encounterId"],
    )
    invalid = [g for g in timeline.gaps if g.code == "invalid-resource"]
    assert not invalid, f"{size}: the service rejected resources: {invalid[:3]}"
    assert len(timeline.drafts) == 1, f"{size}: the draft order was not read"
    spec = SIZES[size]
    assert len(timeline.pain_scores) == spec.pain, (len(timeline.pain_scores), spec.pain)
    return (
        f"{size}: {len(body) / 1024:.0f} KiB, {checked} resources valid R4B, "
        f"{len(timeline.orders)} orders, {len(timeline.pain_scores)} pain scores, "
        f"{len(timeline.encounters)} encounters, {len(timeline.conditions)} conditions, "
        f"{len(timeline.gaps)} gaps ({', '.join(sorted({g.code for g in timeline.gaps})) or '-'})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="typical")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="default: today")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", help="write the request here (default: stdout)")
    parser.add_argument("--check", action="store_true", help="validate every size and exit")
    args = parser.parse_args(argv)
    as_of = args.as_of or system_clock().date()
    if args.check:
        for size in SIZES:
            print(self_check(size, as_of, seed=args.seed))
        return 0
    body = generate_bytes(args.size, as_of, seed=args.seed)
    if args.out:
        with open(args.out, "wb") as fh:
            fh.write(body)
    else:
        sys.stdout.buffer.write(body + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
