"""Expand compact scenarios (``data/*.yaml``) into FHIR R4 resources and hook requests.

Everything is a pure function of the scenario and ``as_of``: resource ids are
``{scenario}-{kind}-{n}``, the patient id is the scenario name, and every date is
``as_of`` plus the scenario's day offset. Only ``hookInstance`` is random (a uuid4,
injectable for golden files).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any

import yaml

from service.catalog import PREFETCH_TEMPLATES
from service.scenarios.model import (
    DispenseSpec,
    DrugInfo,
    EncounterSpec,
    OrderSpec,
    Scenario,
    ScenarioInfo,
    parse_dose,
    parse_freq,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_USER_ID",
    "ExpandedScenario",
    "build_draft_orders",
    "build_prefetch",
    "build_request",
    "drugs",
    "expand",
    "list_scenarios",
    "load_scenario",
    "patient_bundle",
]

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
MR_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DISCHARGE = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
EXAMPLE_MRN = "urn:oid:2.16.840.1.113883.19.5"  # HL7's example-only OID

DEFAULT_USER_ID = "Practitioner/oih-sandbox-clinician"
DEFAULT_BASE_URL = "http://oih-cds.example.org/fhir"

_SYSTEMS = {"icd10": ICD10CM, "snomed": SNOMED}

_ENCOUNTER_CLASS = {
    "AMB": "ambulatory",
    "EMER": "emergency",
    "IMP": "inpatient encounter",
    "ACUTE": "inpatient acute",
    "OBSENC": "observation encounter",
    "VR": "virtual",
    "HH": "home health",
}
_ENCOUNTER_TYPE = {
    "AMB": "Office visit",
    "EMER": "Emergency department visit",
    "IMP": "Hospital admission",
    "ACUTE": "Hospital admission",
    "OBSENC": "Observation stay",
    "VR": "Video visit",
    "HH": "Home visit",
}

#: Dose units of the YAML → (UCUM code, human unit, is a count of units).
_DOSE_UNITS: dict[str, tuple[str, str, bool]] = {
    "mg": ("mg", "mg", False),
    "mcg": ("ug", "mcg", False),
    "mcg/h": ("ug/h", "mcg/h", False),
    "mL": ("mL", "mL", False),
    "tab": ("{tbl}", "tablet", True),
    "cap": ("{cap}", "capsule", True),
    "patch": ("{patch}", "patch", True),
    "film": ("{film}", "film", True),
    "spray": ("{spray}", "spray", True),
}
#: A dispensed unit of a product → (UCUM code, human unit).
_SUPPLY_UNITS = {
    "tablet": ("{tbl}", "tablet"),
    "capsule": ("{cap}", "capsule"),
    "patch": ("{patch}", "patch"),
    "film": ("{film}", "film"),
    "device": ("{device}", "device"),
    "mL": ("mL", "mL"),
}
_ROUTES = {
    "oral": ("26643006", "Oral route", "by mouth"),
    "transdermal": ("45890007", "Transdermal route", "to the skin"),
    "sublingual": ("37839007", "Sublingual route", "under the tongue"),
    "nasal": ("46713006", "Nasal route", "in one nostril"),
    "subcutaneous": ("34206005", "Subcutaneous route", "under the skin"),
}
_PAIN_CODES = {
    "nrs": (
        "72514-3",
        "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        "vital-signs",
    ),
    "peg": ("91147-9", "Mean score [PEG]", "survey"),
    "peg-item1": (
        "75893-8",
        "Pain severity in the past week - 0-10 numeric rating [Reported]",
        "survey",
    ),
}
_LABS = {
    "egfr": (
        "98979-8",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma "
        "or Blood by Creatinine-based formula (CKD-EPI 2021)",
        "laboratory",
        "mL/min/{1.73_m2}",
        "mL/min/1.73m2",
    ),
    "qtc": ("8636-3", "Q-T interval corrected", "procedure", "ms", "ms"),
}
_PERIOD_WORDS = {"h": "hours", "d": "days", "wk": "weeks"}
_GIVEN_NAMES = (
    "Avery", "Blair", "Casey", "Dale", "Emery", "Frankie", "Gale", "Harper", "Indy", "Jules",
    "Kendall", "Lane", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Tatum",
)  # fmt: skip


# --------------------------------------------------------------------------- loading


def _data_files() -> list[tuple[str, str]]:
    folder = resources.files("service.scenarios").joinpath("data")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml") and entry.name != "drugs.yaml":
            out.append((entry.name, entry.read_text(encoding="utf-8")))
    return out


@cache
def drugs() -> Mapping[str, DrugInfo]:
    """``data/drugs.yaml``: friendly key → product."""
    text = resources.files("service.scenarios").joinpath("data/drugs.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    return {key: DrugInfo.model_validate(value) for key, value in raw.items()}


def _drug(key: str) -> DrugInfo:
    table = drugs()
    if key in table:
        return table[key]
    for info in table.values():
        if info.rxcui == key:
            return info
    raise KeyError(f"drug {key!r} is neither a key nor an RxCUI of data/drugs.yaml")


@cache
def _scenarios() -> Mapping[str, Scenario]:
    found: dict[str, Scenario] = {}
    for filename, text in _data_files():
        raw = yaml.safe_load(text)
        items = raw.get("scenarios", []) if isinstance(raw, dict) else raw
        for item in items or []:
            try:
                scenario = Scenario.model_validate({**item, "source_file": filename})
            except Exception as exc:
                name = item.get("name", "?") if isinstance(item, dict) else "?"
                raise ValueError(f"{filename}: scenario {name}: {exc}") from exc
            if scenario.name in found:
                raise ValueError(f"{filename}: scenario name {scenario.name!r} is used twice")
            keys = [o.drug for o in scenario.orders] + [d.drug for d in scenario.dispenses]
            for drug_key in keys:
                _drug(drug_key)
            if scenario.draft is not None:
                _drug(scenario.draft.drug)
            found[scenario.name] = scenario
    return found


def list_scenarios() -> list[ScenarioInfo]:
    """Every scenario, in catalogue order (by file, then as written)."""
    return [
        ScenarioInfo(
            name=s.name,
            title=s.title,
            story=s.story,
            tags=tuple(s.tags),
            hook=s.primary_hook,
            expect=dict(s.expect),
            indicators=dict(s.indicators),
            source_file=s.source_file,
        )
        for s in _scenarios().values()
    ]


def load_scenario(name: str) -> Scenario:
    """The parsed scenario called ``name`` (``KeyError`` if there is none)."""
    try:
        return _scenarios()[name]
    except KeyError:
        raise KeyError(f"no scenario called {name!r}") from None


def _resolve(scenario: Scenario | str) -> Scenario:
    return load_scenario(scenario) if isinstance(scenario, str) else scenario


# --------------------------------------------------------------------------- helpers


def _num(value: float) -> float | int:
    """Whole numbers as ``int`` so the JSON reads ``30`` not ``30.0``."""
    rounded = round(value, 4)
    return int(rounded) if float(rounded).is_integer() else rounded


def _ucum(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": _num(value), "unit": unit, "system": UCUM, "code": code}


def _cc(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        concept["text"] = text
    return concept


def _ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


def _doses_per_day(freq: str | None, freq_max: int | None) -> float | None:
    if freq is None:
        return None
    count, period, unit = parse_freq(freq)
    days = {"h": period / 24.0, "d": period, "wk": period * 7.0}[unit]
    return (freq_max if freq_max is not None else count) / days


def _freq_text(freq: str, freq_max: int | None, prn: bool) -> str:
    count, period, unit = parse_freq(freq)
    if unit == "h" and count == 1:
        text = f"every {_num(period)} hours"
    elif unit == "d" and period == 1:
        text = {1: "once a day", 2: "twice a day", 3: "three times a day"}.get(
            count, f"{count} times a day"
        )
        if freq_max is not None:
            text = f"{count} to {freq_max} times a day"
    elif unit == "d" and count == 1:
        text = f"every {_num(period)} days"
    else:
        text = f"{count} times every {_num(period)} {_PERIOD_WORDS[unit]}"
    return text + (" as needed for pain" if prn else "")


@dataclass
class _Ids:
    """Deterministic ids: ``{scenario}-{kind}-{n}``, numbered in the order built."""

    scenario: str
    counters: dict[str, int] = field(default_factory=dict)

    def next(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{self.scenario}-{kind}-{self.counters[kind]}"


# --------------------------------------------------------------------------- expansion


@dataclass
class ExpandedScenario:
    """A scenario as FHIR resources at one ``as_of``.

    ``resources`` maps each prefetch slot to its resources (matches first, then
    ``_include``-d Medications); ``draft_orders`` is the draftOrders Bundle or None.
    """

    scenario: Scenario
    as_of: date
    patient_id: str
    patient: dict[str, Any]
    resources: dict[str, list[dict[str, Any]]]
    included: dict[str, list[dict[str, Any]]]
    draft_orders: dict[str, Any] | None
    context_encounter_id: str | None = None

    @property
    def draft_id(self) -> str | None:
        if self.draft_orders is None:
            return None
        for entry in self.draft_orders.get("entry", []):
            res = entry.get("resource", {})
            if res.get("resourceType") == "MedicationRequest":
                return str(res["id"])
        return None


class _Builder:
    def __init__(self, scenario: Scenario, as_of: date) -> None:
        self.s = scenario
        self.as_of = as_of
        self.pid = scenario.name
        self.ids = _Ids(scenario.name)
        self.encounters: list[dict[str, Any]] = []
        self._encounter_by_key: dict[tuple[int, str], str] = {}
        self.medications: dict[str, dict[str, Any]] = {}

    # dates ------------------------------------------------------------------------
    def day(self, offset: int) -> str:
        return (self.as_of + timedelta(days=offset)).isoformat()

    def instant(self, offset: int, minute: int = 0) -> str:
        hh, mm = divmod(9 * 60 + 30 + minute, 60)
        return f"{self.day(offset)}T{hh:02d}:{mm:02d}:00Z"

    # patient ----------------------------------------------------------------------
    def patient(self) -> dict[str, Any]:
        s = self.s
        # Age in whole years on as_of, ~4 months past the birthday; a whole number of
        # days so that moving as_of moves the birth date by the same number of days.
        birth = self.as_of - timedelta(days=int(s.age * 365.25) + 120)
        digest = sum(ord(c) for c in s.name)
        given = _GIVEN_NAMES[digest % len(_GIVEN_NAMES)]
        return {
            "resourceType": "Patient",
            "id": self.pid,
            "meta": {"tag": [{"system": "urn:oih-cds:scenario", "code": s.name}]},
            "text": {
                "status": "generated",
                "div": f'<div xmlns="http://www.w3.org/1999/xhtml">Synthetic test patient '
                f"for scenario {s.name}: {_xml(s.story)}</div>",
            },
            "identifier": [
                {
                    "use": "usual",
                    "system": EXAMPLE_MRN,
                    "value": f"SYN-{digest:05d}-{len(s.name):02d}",
                }
            ],
            "active": True,
            "name": [{"use": "official", "family": "Syntheticpatient", "given": [given]}],
            "gender": s.sex,
            "birthDate": birth.isoformat(),
        }

    # encounters -------------------------------------------------------------------
    def encounter(self, spec: EncounterSpec, *, key: tuple[int, str] | None = None) -> str:
        if key is not None and key in self._encounter_by_key:
            return self._encounter_by_key[key]
        eid = self.ids.next("enc")
        period: dict[str, str] = {"start": self.instant(spec.start, -30)}
        if spec.end is not None:
            period["end"] = self.instant(spec.end, 30)
        elif spec.status == "finished":
            period["end"] = self.instant(spec.start, 30)
        res: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": eid,
            "status": spec.status,
            "class": {"system": ACT_CODE, "code": spec.cls, "display": _ENCOUNTER_CLASS[spec.cls]},
            "type": [{"text": spec.type or _ENCOUNTER_TYPE[spec.cls]}],
            "subject": _ref("Patient", self.pid),
            "period": period,
        }
        if spec.disposition == "hospice":
            res["hospitalization"] = {
                "dischargeDisposition": {
                    "coding": [
                        {"system": DISCHARGE, "code": "hosp", "display": "Hospice"},
                        {"system": SNOMED, "code": "385763009", "display": "Hospice care"},
                    ],
                    "text": "Discharged to hospice",
                }
            }
        elif spec.disposition == "home":
            res["hospitalization"] = {
                "dischargeDisposition": _cc(DISCHARGE, "home", "Home", "Discharged home")
            }
        self.encounters.append(res)
        if key is not None:
            self._encounter_by_key[key] = eid
        return eid

    def visit(self, day: int, cls: str) -> str:
        """The (one) encounter of class ``cls`` on ``day``, made on first use."""
        spec = EncounterSpec.model_validate({"class": cls, "start": day})
        return self.encounter(spec, key=(day, cls))

    # medications ------------------------------------------------------------------
    def medication_concept(self, drug: DrugInfo) -> dict[str, Any]:
        return _cc(RXNORM, drug.rxcui, drug.display, drug.display)

    def medication_resource(self, drug: DrugInfo) -> str:
        if drug.rxcui in self.medications:
            return str(self.medications[drug.rxcui]["id"])
        mid = self.ids.next("med")
        self.medications[drug.rxcui] = {
            "resourceType": "Medication",
            "id": mid,
            "code": self.medication_concept(drug),
            "form": _cc(RXNORM, drug.form_rxcui, drug.form),
        }
        return mid

    def dosage(
        self,
        drug: DrugInfo,
        dose: str | None,
        freq: str | None,
        freq_max: int | None,
        prn: bool,
        sig_text: str | None,
    ) -> dict[str, Any]:
        if dose is None or freq is None:
            return {"text": sig_text or ""}
        value, unit = parse_dose(dose)
        code, human, _ = _DOSE_UNITS[unit]
        route_code, route_display, route_text = _ROUTES[drug.route]
        count, period, period_unit = parse_freq(freq)
        verb = "apply" if drug.route == "transdermal" else "take"
        shown_unit = (
            human
            if unit not in ("tab", "cap", "patch", "film", "spray")
            else (human + ("s" if value != 1 else ""))
        )
        text = sig_text or (
            f"{verb.capitalize()} {_num(value)} {shown_unit} {route_text} "
            f"{_freq_text(freq, freq_max, prn)}"
        )
        repeat: dict[str, Any] = {
            "frequency": count,
            "period": _num(period),
            "periodUnit": period_unit,
        }
        if freq_max is not None:
            repeat["frequencyMax"] = freq_max
        return {
            "sequence": 1,
            "text": text,
            "timing": {"repeat": repeat},
            "asNeededBoolean": prn,
            "route": _cc(SNOMED, route_code, route_display),
            "doseAndRate": [{"doseQuantity": _ucum(value, human, code)}],
        }

    def supply_quantity(
        self, drug: DrugInfo, dose: str | None, freq: str | None, freq_max: int | None, days: int
    ) -> float | None:
        per_day = _doses_per_day(freq, freq_max)
        if dose is None or per_day is None:
            return None
        value, unit = parse_dose(dose)
        if _DOSE_UNITS[unit][2] or unit == "mcg/h" or (unit == "mL" and drug.unit == "mL"):
            units_per_dose = value if unit != "mcg/h" else 1.0
        else:  # a mass: how many tablets (or mL) of this strength make the dose
            mg = value / 1000.0 if unit == "mcg" else value
            units_per_dose = mg / drug.strength_value
        return units_per_dose * per_day * days

    def fills(
        self, start: int, through: int | str | None, days: int, every: int | None
    ) -> list[tuple[int, int]]:
        """(day, supply days) of each order/dispense of a chain."""
        step = every or days
        if through is None:
            return [(start, days)]
        out: list[tuple[int, int]] = []
        day = start
        if through == "ongoing":
            while True:
                out.append((day, days))
                if day + days - 1 >= 0:
                    return out
                day += step
        assert isinstance(through, int)
        while day <= through:
            out.append((day, min(days, through - day + 1)))
            day += step
        return out

    def medication_request(
        self, spec: OrderSpec, day: int, supply: int, *, draft: bool = False
    ) -> dict[str, Any]:
        drug = _drug(spec.drug)
        rid = self.ids.next("draft" if draft else "mr")
        if draft:
            status = "draft"
        elif spec.status is not None:
            status = spec.status
        else:
            status = "active" if day + supply - 1 >= 0 else "completed"
        res: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": status,
            "intent": "order",
            "category": [_cc(MR_CATEGORY, spec.category, spec.category.capitalize())],
        }
        if spec.medication_reference:
            res["medicationReference"] = {
                "reference": f"Medication/{self.medication_resource(drug)}",
                "display": drug.display,
            }
        else:
            res["medicationCodeableConcept"] = self.medication_concept(drug)
        res |= {
            "subject": _ref("Patient", self.pid),
            "authoredOn": self.day(day),
            "requester": {"reference": DEFAULT_USER_ID, "display": "Sandbox Clinician"},
        }
        if spec.reason is not None:
            res["reasonCode"] = [
                _cc(_SYSTEMS[spec.reason.system], spec.reason.code, spec.reason.display)
            ]
        res |= {
            "dosageInstruction": [
                self.dosage(drug, spec.dose, spec.freq, spec.freq_max, spec.prn, spec.sig_text)
            ],
        }
        dispense: dict[str, Any] = {"validityPeriod": {"start": self.day(day)}}
        if spec.refills is not None:
            dispense["numberOfRepeatsAllowed"] = spec.refills
        qty = (
            spec.qty
            if spec.qty is not None
            else self.supply_quantity(drug, spec.dose, spec.freq, spec.freq_max, supply)
        )
        if qty is not None:
            if spec.qty is not None and supply != spec.days:
                qty = qty * supply / spec.days
            q_code, q_unit = _SUPPLY_UNITS[drug.unit]
            dispense["quantity"] = _ucum(qty, q_unit, q_code)
        dispense["expectedSupplyDuration"] = _ucum(supply, "days", "d")
        res["dispenseRequest"] = dispense
        return res

    def medication_dispense(self, spec: DispenseSpec, day: int, supply: int) -> dict[str, Any]:
        drug = _drug(spec.drug)
        q_code, q_unit = _SUPPLY_UNITS[drug.unit]
        qty = spec.qty * supply / spec.days
        res: dict[str, Any] = {
            "resourceType": "MedicationDispense",
            "id": self.ids.next("md"),
            "status": spec.status,
            "category": _cc(
                "http://terminology.hl7.org/fhir/CodeSystem/medicationdispense-category",
                "community",
                "Community",
            ),
            "medicationCodeableConcept": self.medication_concept(drug),
            "subject": _ref("Patient", self.pid),
            "type": _cc("http://terminology.hl7.org/CodeSystem/v3-ActCode", "FF", "First Fill"),
            "quantity": _ucum(qty, q_unit, q_code),
            "daysSupply": _ucum(supply, "days", "d"),
            "whenPrepared": self.instant(day, -60),
            "whenHandedOver": self.instant(day, 0),
        }
        if spec.dose is not None and spec.freq is not None:
            res["dosageInstruction"] = [
                self.dosage(drug, spec.dose, spec.freq, None, spec.prn, None)
            ]
        return res

    # whole scenario ---------------------------------------------------------------
    def build(self) -> ExpandedScenario:
        s = self.s
        slots: dict[str, list[dict[str, Any]]] = {k: [] for k in PREFETCH_TEMPLATES}
        patient = self.patient()

        for order in s.orders:
            for day, supply in self.fills(order.start, order.through, order.days, order.every):
                slots["medicationRequests"].append(self.medication_request(order, day, supply))
        request_meds = list(self.medications.values())

        self.medications = {}
        for disp in s.dispenses:
            for day, supply in self.fills(disp.start, disp.through, disp.days, disp.every):
                slots["medicationDispenses"].append(self.medication_dispense(disp, day, supply))
        dispense_meds = list(self.medications.values())

        for series in s.pain:
            code, display, category = _PAIN_CODES[series.instrument]
            for i, point in enumerate(series.scores):
                day, value = int(point[0]), float(point[1])
                cls = str(point[2]) if len(point) == 3 else series.setting
                eid = self.visit(day, cls)
                obs: dict[str, Any] = {
                    "resourceType": "Observation",
                    "id": self.ids.next("pain"),
                    "status": "final",
                    "category": [_cc(OBS_CATEGORY, category, category.replace("-", " ").title())],
                    "code": _cc(LOINC, code, display, display),
                    "subject": _ref("Patient", self.pid),
                    "encounter": _ref("Encounter", eid),
                    "effectiveDateTime": self.instant(day, i % 5),
                }
                if series.value_as == "integer":
                    obs["valueInteger"] = round(value)
                else:
                    obs["valueQuantity"] = _ucum(value, "{score}", "{score}")
                slots["painObservations"].append(obs)

        for lab in s.labs:
            code, display, category, ucum_code, unit = _LABS[lab.kind]
            slots["labObservations"].append(
                {
                    "resourceType": "Observation",
                    "id": self.ids.next("lab"),
                    "status": "final",
                    "category": [_cc(OBS_CATEGORY, category, category.title())],
                    "code": _cc(LOINC, code, display, display),
                    "subject": _ref("Patient", self.pid),
                    "effectiveDateTime": self.instant(lab.day),
                    "valueQuantity": _ucum(lab.value, unit, ucum_code),
                }
            )

        for cond in s.conditions:
            visits: list[int | None] = list(cond.encounter_days) or [None]
            for visit_day in visits:
                codings = [
                    {"system": _SYSTEMS[cond.system], "code": cond.code, "display": cond.display}
                ] + [
                    {"system": _SYSTEMS[a.system], "code": a.code, "display": a.display}
                    for a in cond.also
                ]
                res: dict[str, Any] = {
                    "resourceType": "Condition",
                    "id": self.ids.next("cond"),
                    "clinicalStatus": _cc(COND_CLINICAL, cond.status, cond.status.title()),
                    "verificationStatus": _cc(
                        COND_VER, cond.verification, cond.verification.title()
                    ),
                    "category": [
                        _cc(
                            COND_CATEGORY,
                            cond.category,
                            {
                                "problem-list-item": "Problem List Item",
                                "encounter-diagnosis": "Encounter Diagnosis",
                                "health-concern": "Health Concern",
                            }[cond.category],
                        )
                    ],
                    "code": {"coding": codings, "text": cond.display},
                    "subject": _ref("Patient", self.pid),
                }
                if visit_day is not None:
                    res["encounter"] = _ref(
                        "Encounter", self.visit(visit_day, cond.encounter_class)
                    )
                res["onsetDateTime"] = self.day(cond.onset if visit_day is None else visit_day)
                if cond.abatement is not None:
                    res["abatementDateTime"] = self.day(cond.abatement)
                recorded = cond.recorded if cond.recorded is not None else cond.onset
                res["recordedDate"] = self.day(recorded if visit_day is None else visit_day)
                slots["conditions"].append(res)

        for enc in s.encounters:
            self.encounter(enc)

        context_id = None
        if s.context is not None:
            context_id = self.encounter(s.context.encounter)

        for proc in s.procedures:
            slots["procedures"].append(
                {
                    "resourceType": "Procedure",
                    "id": self.ids.next("proc"),
                    "status": proc.status,
                    "code": _cc(SNOMED, proc.code, proc.display, proc.display),
                    "subject": _ref("Patient", self.pid),
                    "performedDateTime": self.day(proc.day),
                }
            )

        slots["encounters"] = sorted(
            self.encounters, key=lambda e: e["period"]["start"], reverse=True
        )
        for key in ("painObservations", "labObservations"):
            slots[key].sort(key=lambda o: o["effectiveDateTime"], reverse=True)
        slots["procedures"].sort(key=lambda p: p["performedDateTime"], reverse=True)
        slots["patient"] = [patient]

        draft_orders = None
        if s.draft is not None:
            self.medications = {}
            draft = self.medication_request(s.draft, 0, s.draft.days, draft=True)
            entries = [{"resource": draft}]
            entries += [{"resource": m} for m in self.medications.values()]
            draft_orders = {"resourceType": "Bundle", "entry": entries}

        return ExpandedScenario(
            scenario=s,
            as_of=self.as_of,
            patient_id=self.pid,
            patient=patient,
            resources=slots,
            included={"medicationRequests": request_meds, "medicationDispenses": dispense_meds},
            draft_orders=draft_orders,
            context_encounter_id=context_id,
        )


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def expand(scenario: Scenario | str, as_of: date) -> ExpandedScenario:
    """All of a scenario's resources at ``as_of`` (day 0)."""
    return _Builder(_resolve(scenario), as_of).build()


# --------------------------------------------------------------------------- outputs


def _searchset(
    key: str, matches: list[dict[str, Any]], included: list[dict[str, Any]], pid: str, base: str
) -> dict[str, Any]:
    query = PREFETCH_TEMPLATES[key].replace("{{context.patientId}}", pid)
    entries = [
        {
            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in matches
    ] + [
        {
            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "include"},
        }
        for r in included
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": f"{base}/{query}"}],
        "entry": entries,
    }


def build_prefetch(
    scenario: Scenario | str, as_of: date, *, base_url: str = DEFAULT_BASE_URL
) -> dict[str, Any]:
    """One entry per prefetch slot: the Patient, and a searchset Bundle for every query."""
    exp = expand(scenario, as_of)
    return _prefetch_of(exp, base_url)


def _prefetch_of(exp: ExpandedScenario, base_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in PREFETCH_TEMPLATES:
        if key == "patient":
            out[key] = copy.deepcopy(exp.patient)
            continue
        out[key] = copy.deepcopy(
            _searchset(
                key,
                exp.resources.get(key, []),
                exp.included.get(key, []),
                exp.patient_id,
                base_url,
            )
        )
    return out


def build_draft_orders(scenario: Scenario | str, as_of: date) -> dict[str, Any] | None:
    """The draftOrders Bundle (no ``type``, as EHRs send it), or None without a draft."""
    return expand(scenario, as_of).draft_orders


def _draft_bundle(
    exp: ExpandedScenario, as_of: date, override: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if override is None:
        return copy.deepcopy(exp.draft_orders)
    if override.get("resourceType") == "Bundle":
        return copy.deepcopy(dict(override))
    if "resourceType" in override:
        return {"resourceType": "Bundle", "entry": [{"resource": copy.deepcopy(dict(override))}]}
    # A compact order as written in the YAML ``draft:`` section.
    spec = OrderSpec.model_validate(dict(override))
    _drug(spec.drug)
    builder = _Builder(exp.scenario, as_of)
    builder.ids = _Ids(exp.scenario.name)
    draft = builder.medication_request(spec, 0, spec.days, draft=True)
    entries = [{"resource": draft}] + [{"resource": m} for m in builder.medications.values()]
    return {"resourceType": "Bundle", "entry": entries}


def build_request(
    scenario: Scenario | str,
    hook: str,
    as_of: date,
    *,
    draft_override: Mapping[str, Any] | None = None,
    prefetch: bool = True,
    hook_instance: str | None = None,
    user_id: str = DEFAULT_USER_ID,
    fhir_server: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> dict[str, Any]:
    """A CDS Hooks 2.0 request body for ``hook`` on this scenario at ``as_of``.

    ``draft_override`` replaces the scenario's draft: a Bundle, a MedicationRequest
    resource, or a compact order written like the YAML ``draft:`` section. order-select
    needs a draft (its ``selections`` name the draft MedicationRequest). With
    ``prefetch=False`` the body carries no prefetch (and ``fhirServer`` when given).
    """
    if hook not in ("patient-view", "order-select", "order-sign"):
        raise ValueError(f"unsupported hook {hook!r}")
    exp = expand(scenario, as_of)
    context: dict[str, Any] = {"userId": user_id, "patientId": exp.patient_id}
    if exp.context_encounter_id is not None:
        context["encounterId"] = exp.context_encounter_id
    if hook in ("order-select", "order-sign"):
        drafts = _draft_bundle(exp, as_of, draft_override)
        if drafts is None:
            if hook == "order-select":
                raise ValueError(f"scenario {exp.scenario.name!r} has no draft order to select")
            drafts = {"resourceType": "Bundle", "entry": []}
        if hook == "order-select":
            selected = [
                f"{e['resource']['resourceType']}/{e['resource']['id']}"
                for e in drafts.get("entry", [])
                if e.get("resource", {}).get("resourceType") == "MedicationRequest"
            ]
            if not selected:
                raise ValueError("order-select needs a MedicationRequest in draftOrders")
            context["selections"] = selected[:1]
        context["draftOrders"] = drafts
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": hook_instance or str(uuid.uuid4()),
        "context": context,
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if prefetch:
        body["prefetch"] = _prefetch_of(exp, base_url)
    return body


def patient_bundle(
    scenario: Scenario | str, as_of: date, *, base_url: str = DEFAULT_BASE_URL
) -> dict[str, Any]:
    """Everything in the record (not the draft) as one R4 ``collection`` Bundle."""
    exp = expand(scenario, as_of)
    seen: set[tuple[str, str]] = set()
    entries = []
    ordered = (
        [exp.patient]
        + [r for key in PREFETCH_TEMPLATES if key != "patient" for r in exp.resources.get(key, [])]
        + [m for meds in exp.included.values() for m in meds]
    )
    for res in ordered:
        ident = (res["resourceType"], res["id"])
        if ident in seen:
            continue
        seen.add(ident)
        entries.append(
            {"fullUrl": f"{base_url}/{ident[0]}/{ident[1]}", "resource": copy.deepcopy(res)}
        )
    return {
        "resourceType": "Bundle",
        "id": f"{exp.patient_id}-record",
        "type": "collection",
        "timestamp": f"{as_of.isoformat()}T12:00:00Z",
        "entry": entries,
    }
