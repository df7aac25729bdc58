"""Decoded FHIR JSON → validated R4B models, one resource at a time.

This is the only module that imports ``fhir.resources``. Everything else in the
service sees the model classes re-exported here (for type annotations) or, beyond
``service.normalize``, only the plain :mod:`rules.timeline` types.

Why R4B models are safe for R4 (4.0.1) payloads
-----------------------------------------------
fhir.resources 8.x ships R5 at the package root, R4B (4.3.0) in
``fhir.resources.R4B`` and no plain R4 (see docs/tooling.md); the R5 models reject R4
(``medicationCodeableConcept`` became ``medication``). R4B was published as strictly
backward compatible with R4 outside the modules it reworked: the medication
*definition* resources (MedicinalProduct* → MedicinalProductDefinition, Ingredient,
SubstanceDefinition, Substance...), the evidence resources (Evidence, Citation,
EvidenceReport...), subscriptions (SubscriptionTopic/Status), NutritionProduct, the
new CodeableReference/RatioRange types and canonical ``subject[x]`` on
ActivityDefinition/PlanDefinition (https://hl7.org/fhir/R4B/history.html,
https://hl7.org/fhir/R4B/r4b-explanation.html). None of those is read here.

What we checked for the resources we read: the R4B element names of
MedicationRequest (incl. ``dispenseRequest``/``substitution``), MedicationDispense,
Medication (incl. ``ingredient``), Observation (incl. ``component``), Condition,
Encounter (incl. ``hospitalization``, ``diagnosis``), Procedure, ServiceRequest,
Patient and the Dosage/Timing/Quantity/Duration/Ratio/Period/CodeableConcept data
types were compared with the R4 (4.0.x) definitions: same elements, same choice
types (``medication[x]``, ``effective[x]``, ``value[x]``, ``onset[x]``,
``abatement[x]``, ``performed[x]``, ``asNeeded[x]``, ``doseAndRate.dose[x]``), same
cardinalities for what we read (``MedicationRequest.intent``/``status``/
``subject``/``medication[x]`` 1..1; ``category`` and ``dosageInstruction`` 0..*;
``Encounter.class`` 1..1 Coding; ``Observation.status``/``code`` 1..1). The models
forbid unknown keys, so an STU3-shaped field (``Dosage.doseQuantity``, single
``category``) fails validation; those shapes are repaired first (see below).

What "validate only what the rules read" means
-----------------------------------------------
Full R4B validation costs ~75x ``orjson.loads`` (docs/tooling.md): fhir_core runs
Python validators on every complex element. So each resource is first *projected*
onto the elements the rules read (plus the elements R4 makes mandatory, so that a
resource missing them is still rejected), and only that projection is validated
with the R4B model. Narrative, identifiers, extensions, performers, notes and so
on are never validated, so a vendor quirk there cannot make us drop a resource.
Observations are further filtered by code *before* validation (``accept``), because
a record may hold thousands of vital signs we never read. The whole Bundle is never
validated. Numbers: ``bench/parse_bench.py``.

Errors
------
A malformed history resource becomes a :class:`~rules.timeline.DataGap`
(``invalid-resource``) naming its type and position, never its content, and is
skipped. A malformed draft order raises :class:`~cds_hooks.errors.InvalidRequest`
(400) located at ``context.draftOrders.entry[i]``; a DSTU2/STU3 draft raises
:class:`~cds_hooks.errors.UnsupportedFhirVersion`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias, TypeVar

import orjson
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.dosage import Dosage, DosageDoseAndRate
from fhir.resources.R4B.duration import Duration
from fhir.resources.R4B.encounter import Encounter, EncounterDiagnosis, EncounterHospitalization
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest, MedicationRequestDispenseRequest
from fhir.resources.R4B.observation import (
    Observation,
    ObservationComponent,
    ObservationReferenceRange,
)
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.ratio import Ratio
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.timing import Timing, TimingRepeat
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from cds_hooks.errors import InvalidRequest, UnsupportedFhirVersion
from rules.timeline import DataGap

__all__ = [
    "CodeableConcept",
    "Coding",
    "Condition",
    "Dosage",
    "DosageDoseAndRate",
    "Duration",
    "Encounter",
    "Medication",
    "MedicationDispense",
    "MedicationRequest",
    "Observation",
    "ObservationComponent",
    "ParsedResource",
    "ParsedResources",
    "Patient",
    "Period",
    "Procedure",
    "Quantity",
    "Ratio",
    "ReadModel",
    "Reference",
    "ServiceRequest",
    "Timing",
    "TimingRepeat",
    "ValidationCache",
    "parse_draft_orders",
    "parse_resources",
]

#: Every model the rules read. Anything else in a slot (Claim, Practitioner,
#: Provenance...) is skipped without validation.
ReadModel: TypeAlias = (
    Patient
    | MedicationRequest
    | MedicationDispense
    | Medication
    | Observation
    | Condition
    | Encounter
    | Procedure
    | ServiceRequest
)

_MODELS: Final[Mapping[str, type[ReadModel]]] = {
    "Patient": Patient,
    "MedicationRequest": MedicationRequest,
    "MedicationDispense": MedicationDispense,
    "Medication": Medication,
    "Observation": Observation,
    "Condition": Condition,
    "Encounter": Encounter,
    "Procedure": Procedure,
    "ServiceRequest": ServiceRequest,
}

#: Order resource types of earlier FHIR versions that a DSTU2/STU3 client puts in
#: ``draftOrders`` (MedicationOrder/DiagnosticOrder/DeviceUseRequest are DSTU2;
#: ProcedureRequest/ReferralRequest are STU3, renamed ServiceRequest in R4).
_PRE_R4_ORDER_TYPES: Final = {
    "MedicationOrder": "DSTU2",
    "DiagnosticOrder": "DSTU2",
    "DeviceUseRequest": "DSTU2",
    "ProcedureRequest": "STU3",
    "ReferralRequest": "STU3",
}

_M = TypeVar("_M", bound=FHIRAbstractModel)
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

# --- projections: the elements we read, plus R4's mandatory ones ---------------------

_KEEP: Final[Mapping[str, frozenset[str]]] = {
    "Patient": frozenset({"resourceType", "id", "birthDate"}),
    "MedicationRequest": frozenset(
        {
            "resourceType",
            "id",
            "status",
            "intent",
            "category",
            "medicationCodeableConcept",
            "medicationReference",
            "subject",
            "authoredOn",
            "dosageInstruction",
            "dispenseRequest",
        }
    ),
    "MedicationDispense": frozenset(
        {
            "resourceType",
            "id",
            "status",
            "category",
            "medicationCodeableConcept",
            "medicationReference",
            "quantity",
            "daysSupply",
            "whenPrepared",
            "whenHandedOver",
            "dosageInstruction",
        }
    ),
    "Medication": frozenset({"resourceType", "id", "code", "form"}),
    "Observation": frozenset(
        {
            "resourceType",
            "id",
            "status",
            "code",
            "encounter",
            "effectiveDateTime",
            "effectivePeriod",
            "effectiveInstant",
            "issued",
            "valueQuantity",
            "valueInteger",
            "valueCodeableConcept",
            "valueString",
            "component",
            "referenceRange",
        }
    ),
    "Condition": frozenset(
        {
            "resourceType",
            "id",
            "clinicalStatus",
            "verificationStatus",
            "category",
            "code",
            "subject",
            "encounter",
            "onsetDateTime",
            "onsetPeriod",
            "onsetString",
            "onsetAge",
            "onsetRange",
            "abatementDateTime",
            "abatementPeriod",
            "abatementString",
            "abatementAge",
            "abatementRange",
            "recordedDate",
        }
    ),
    "Encounter": frozenset(
        {"resourceType", "id", "status", "class", "type", "period", "hospitalization", "diagnosis"}
    ),
    "Procedure": frozenset(
        {
            "resourceType",
            "id",
            "status",
            "code",
            "subject",
            "performedDateTime",
            "performedPeriod",
            "performedString",
            "performedAge",
            "performedRange",
        }
    ),
    "ServiceRequest": frozenset(
        {
            "resourceType",
            "id",
            "status",
            "intent",
            "code",
            "subject",
            "authoredOn",
            "occurrenceDateTime",
            "occurrencePeriod",
        }
    ),
}
_DOSAGE_KEEP: Final = frozenset(
    {
        "text",
        "timing",
        "asNeededBoolean",
        "asNeededCodeableConcept",
        "route",
        "doseAndRate",
        "maxDosePerPeriod",
    }
)
_STU3_DOSE_KEYS: Final = ("doseQuantity", "doseRange", "rateQuantity", "rateRange", "rateRatio")
_DISPENSE_REQUEST_KEEP: Final = frozenset({"validityPeriod", "quantity", "expectedSupplyDuration"})
_COMPONENT_KEEP: Final = frozenset(
    {"code", "valueQuantity", "valueInteger", "valueCodeableConcept"}
)

_CC, _REF = CodeableConcept, Reference
#: The complex elements we keep, with their R4B element model. They are validated one
#: by one through :class:`ValidationCache`, so that an element repeated across a
#: record (the same ``code``, ``category``, ``subject``, dosage or unit on hundreds of
#: resources) is validated once per request and the validated model reused.
_ELEMENTS: Final[Mapping[str, Mapping[str, type[FHIRAbstractModel]]]] = {
    "MedicationRequest": {
        "category": _CC,
        "medicationCodeableConcept": _CC,
        "medicationReference": _REF,
        "subject": _REF,
        "dosageInstruction": Dosage,
        "dispenseRequest": MedicationRequestDispenseRequest,
    },
    "MedicationDispense": {
        "category": _CC,
        "medicationCodeableConcept": _CC,
        "medicationReference": _REF,
        "quantity": Quantity,
        "daysSupply": Quantity,
        "dosageInstruction": Dosage,
    },
    "Medication": {"code": _CC, "form": _CC},
    "Observation": {
        "code": _CC,
        "encounter": _REF,
        "effectivePeriod": Period,
        "valueQuantity": Quantity,
        "valueCodeableConcept": _CC,
        "component": ObservationComponent,
        "referenceRange": ObservationReferenceRange,
    },
    "Condition": {
        "clinicalStatus": _CC,
        "verificationStatus": _CC,
        "category": _CC,
        "code": _CC,
        "subject": _REF,
        "encounter": _REF,
        "onsetPeriod": Period,
        "abatementPeriod": Period,
    },
    "Encounter": {
        "class": Coding,
        "type": _CC,
        "period": Period,
        "hospitalization": EncounterHospitalization,
        "diagnosis": EncounterDiagnosis,
    },
    "Procedure": {"code": _CC, "subject": _REF, "performedPeriod": Period},
    "ServiceRequest": {"code": _CC, "subject": _REF, "occurrencePeriod": Period},
    "Patient": {},
}


class ValidationCache:
    """Validated R4B elements of one request, keyed by their exact JSON.

    Scoped to one request on purpose: never shared across patients.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[tuple[type[FHIRAbstractModel], bytes], FHIRAbstractModel | str] = {}

    def element(self, model: type[FHIRAbstractModel], value: Mapping[str, Any], path: str) -> Any:
        try:
            key = (model, orjson.dumps(value))
        except TypeError:
            return _validate_element(model, value, path)
        hit = self._entries.get(key)
        if hit is None:
            try:
                hit = _validate_element(model, value, path)
            except _ResourceError as exc:
                self._entries[key] = exc.detail
                raise
            self._entries[key] = hit
        elif isinstance(hit, str):
            raise _ResourceError(hit)
        return hit


def _validate_element(model: type[FHIRAbstractModel], value: Mapping[str, Any], path: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise _ResourceError(_describe(exc, prefix=path)) from None
    except (ValueError, TypeError) as exc:
        raise _ResourceError(f"{path}: {type(exc).__name__}") from None


def _prevalidate(rtype: str, out: dict[str, Any], cache: ValidationCache) -> None:
    """Replace each kept complex element by its (cached) validated model, in place."""
    for key, model in _ELEMENTS[rtype].items():
        value = out.get(key)
        if isinstance(value, Mapping):
            out[key] = cache.element(model, value, key)
        elif isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            out[key] = [cache.element(model, v, f"{key}[{i}]") for i, v in enumerate(value)]


#: Keys that exist on a DSTU2 MedicationOrder or an STU3 MedicationRequest but not on
#: an R4 MedicationRequest; a draft carrying one was built for another FHIR version.
_PRE_R4_REQUEST_KEYS: Final = {
    "dateWritten": "DSTU2",
    "prescriber": "DSTU2",
    "patient": "DSTU2",
    "reasonCodeableConcept": "DSTU2",
    "context": "STU3",
    "definition": "STU3",
}


@dataclass(frozen=True, slots=True)
class ParsedResource:
    """One validated resource and where it came from (position, never content)."""

    model: ReadModel
    location: str  # e.g. "medicationRequests.entry[3]" or "context.draftOrders.entry[0]"
    full_url: str | None = None
    #: contained Medications, keyed by their local id (the part after ``#``)
    contained: Mapping[str, Medication] = field(default_factory=dict)

    @property
    def resource_type(self) -> str:
        return type(self.model).__name__


@dataclass(frozen=True, slots=True)
class ParsedResources:
    resources: tuple[ParsedResource, ...] = ()
    gaps: tuple[DataGap, ...] = ()


class _ResourceError(Exception):
    """A resource failed validation; ``detail`` names fields, never values."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# --- public API ---------------------------------------------------------------------


def parse_resources(
    value: Any,
    *,
    slot: str,
    accept: Callable[[Mapping[str, Any]], bool] | None = None,
    seen: set[tuple[str, str]] | None = None,
    cache: ValidationCache | None = None,
) -> ParsedResources:
    """Validate the resources the rules read from one slot value.

    ``value`` is decoded JSON: a Bundle (nested Bundles are walked), one resource,
    a list of either, a legacy ``{"resource": ...}`` wrapper, or ``None``.
    ``accept`` may veto a raw resource before validation (e.g. Observations with
    codes we never read). ``seen`` de-duplicates ``(type, id)`` across slots (an
    ``_include``-d Medication arrives in several Bundles). ``cache`` is shared by the
    slots of one request (see :class:`ValidationCache`).
    """
    cache = cache if cache is not None else ValidationCache()
    resources: list[ParsedResource] = []
    gaps: list[DataGap] = []
    for location, raw, full_url in _walk(value, slot, gaps):
        rtype = raw.get("resourceType")
        if rtype == "OperationOutcome":
            gaps.append(_outcome_gap(raw, slot))
            continue
        if not isinstance(rtype, str) or rtype not in _MODELS:
            continue
        if accept is not None and not accept(raw):
            continue
        rid = raw.get("id")
        if seen is not None and isinstance(rid, str):
            key = (rtype, rid)
            if key in seen:
                continue
            seen.add(key)
        notes: list[str] = []
        try:
            parsed = _validate(
                raw, location=location, full_url=full_url, notes=notes, gaps=gaps, cache=cache
            )
        except _ResourceError as exc:
            gaps.append(
                DataGap(
                    "invalid-resource",
                    f"{rtype} at {location} is not valid FHIR R4 and was skipped ({exc.detail}).",
                    reference=_safe_reference(rtype, rid),
                )
            )
            continue
        gaps.extend(_repair_gaps(rtype, location, notes, rid))
        resources.append(parsed)
    return ParsedResources(tuple(resources), tuple(gaps))


def parse_draft_orders(
    draft_orders: Any, *, cache: ValidationCache | None = None
) -> ParsedResources:
    """Validate ``context.draftOrders``: MedicationRequests and Epic's Medication entries.

    Other order types (NutritionOrder, ServiceRequest...) are not read. Raises
    :class:`UnsupportedFhirVersion` for DSTU2/STU3 drafts and :class:`InvalidRequest`
    for a malformed draft, both located at ``context.draftOrders.entry[i]``: a
    draft is what the clinician is about to sign, so we refuse rather than guess.
    """
    if draft_orders is None:
        return ParsedResources()
    cache = cache if cache is not None else ValidationCache()
    if not isinstance(draft_orders, Mapping) or draft_orders.get("resourceType") != "Bundle":
        raise InvalidRequest(
            "context.draftOrders must be a FHIR Bundle of draft orders.",
            location="context.draftOrders",
        )
    entries = draft_orders.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidRequest(
            "context.draftOrders.entry must be a list.", location="context.draftOrders.entry"
        )
    resources: list[ParsedResource] = []
    gaps: list[DataGap] = []
    for i, entry in enumerate(entries):
        location = f"context.draftOrders.entry[{i}]"
        raw = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(raw, Mapping):
            raise InvalidRequest(f"draftOrders entry {i} has no resource.", location=location)
        rtype = raw.get("resourceType")
        if isinstance(rtype, str) and rtype in _PRE_R4_ORDER_TYPES:
            raise UnsupportedFhirVersion(
                f"draftOrders entry {i} is a {_PRE_R4_ORDER_TYPES[rtype]} {rtype}; this service "
                "requires FHIR R4 (4.0.1) resources (MedicationRequest). Point the CDS client at "
                "an R4 FHIR server.",
                location=location,
            )
        if rtype not in ("MedicationRequest", "Medication"):
            continue
        if rtype == "MedicationRequest":
            _reject_pre_r4_request(raw, i, location)
            if not any(k in raw for k in ("medicationCodeableConcept", "medicationReference")):
                # The Sandbox sends a draft before a medication is picked: nothing to judge yet.
                gaps.append(
                    DataGap(
                        "draft-without-medication",
                        f"Draft MedicationRequest at {location} names no medication yet; "
                        "it was not evaluated.",
                    )
                )
                continue
        notes: list[str] = []
        try:
            parsed = _validate(
                raw,
                location=location,
                full_url=None,
                notes=notes,
                gaps=gaps,
                cache=cache,
                draft=True,
            )
        except _ResourceError as exc:
            raise InvalidRequest(
                f"draftOrders entry {i} is not a valid FHIR R4 {rtype}: {exc.detail}.",
                location=location,
            ) from None
        gaps.extend(_repair_gaps(rtype, location, notes, raw.get("id")))
        resources.append(parsed)
    return ParsedResources(tuple(resources), tuple(gaps))


# --- walking --------------------------------------------------------------------------


def _walk(
    value: Any, path: str, gaps: list[DataGap]
) -> Iterator[tuple[str, Mapping[str, Any], str | None]]:
    if value is None:
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]", gaps)
        return
    if not isinstance(value, Mapping):
        gaps.append(DataGap("unreadable-data", f"{path} is not a FHIR resource or Bundle."))
        return
    rtype = value.get("resourceType")
    if rtype == "Bundle":
        entries = value.get("entry") or []
        if not isinstance(entries, list):
            gaps.append(DataGap("unreadable-data", f"{path}.entry is not a list."))
            return
        for i, entry in enumerate(entries):
            loc = f"{path}.entry[{i}]"
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if not isinstance(resource, Mapping):
                continue
            if resource.get("resourceType") == "Bundle":
                yield from _walk(resource, loc, gaps)
                continue
            full_url = entry.get("fullUrl")
            yield loc, resource, full_url if isinstance(full_url, str) else None
    elif isinstance(rtype, str):
        yield path, value, None
    elif "resource" in value:  # legacy {"response": ..., "resource": ...} prefetch wrapper
        yield from _walk(value["resource"], path, gaps)
    else:
        gaps.append(DataGap("unreadable-data", f"{path} is not a FHIR resource or Bundle."))


def _outcome_gap(raw: Mapping[str, Any], slot: str) -> DataGap:
    """An OperationOutcome in a search result: say that data may be missing.

    Only severity and code are repeated; ``diagnostics`` is free text and may
    contain identifiers.
    """
    issue = raw.get("issue")
    issues: list[Any] = issue if isinstance(issue, list) else []
    kinds = sorted(
        {f"{i.get('severity', '?')}/{i.get('code', '?')}" for i in issues if isinstance(i, Mapping)}
    )
    return DataGap(
        "server-outcome",
        f"The FHIR server returned an OperationOutcome in {slot} "
        f"({', '.join(kinds) or 'no issue'}); some {slot} data may be missing.",
    )


# --- projection, repair, validation ---------------------------------------------------


def _validate(
    raw: Mapping[str, Any],
    *,
    location: str,
    full_url: str | None,
    notes: list[str],
    gaps: list[DataGap],
    cache: ValidationCache,
    draft: bool = False,
) -> ParsedResource:
    rtype = str(raw["resourceType"])
    projected = _project(rtype, raw, notes, draft=draft)
    _prevalidate(rtype, projected, cache)
    model = _model_validate(_MODELS[rtype], projected)
    contained: dict[str, Medication] = {}
    if rtype in ("MedicationRequest", "MedicationDispense"):
        contained = _contained_medications(raw, location, gaps, cache, draft=draft)
    return ParsedResource(model=model, location=location, full_url=full_url, contained=contained)


def _model_validate(model: type[_M], data: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _ResourceError(_describe(exc)) from None
    except (ValueError, TypeError) as exc:  # fhir_core raises these for some shapes
        raise _ResourceError(type(exc).__name__) from None


def _describe(exc: ValidationError, prefix: str = "") -> str:
    """Field paths and messages of the first errors, without the offending values."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False)[:2]:
        path = prefix
        for item in err["loc"]:
            path += f"[{item}]" if isinstance(item, int) else (f".{item}" if path else str(item))
        msg = str(err["msg"]).split("\n", 1)[0][:120]
        parts.append(f"{path}: {msg}" if path else msg)
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _contained_medications(
    raw: Mapping[str, Any],
    location: str,
    gaps: list[DataGap],
    cache: ValidationCache,
    *,
    draft: bool,
) -> dict[str, Medication]:
    contained = raw.get("contained")
    found: dict[str, Medication] = {}
    if not isinstance(contained, list):
        return found
    for j, item in enumerate(contained):
        if not isinstance(item, Mapping) or item.get("resourceType") != "Medication":
            continue
        local_id = item.get("id")
        try:
            projected = _project("Medication", item, [])
            _prevalidate("Medication", projected, cache)
            med = _model_validate(Medication, projected)
        except _ResourceError as exc:
            if draft:
                raise InvalidRequest(
                    f"The contained Medication {j} of a draft order is not valid FHIR R4: "
                    f"{exc.detail}.",
                    location=location,
                ) from None
            gaps.append(
                DataGap(
                    "invalid-resource",
                    f"Contained Medication {j} of the resource at {location} is not valid FHIR R4 "
                    f"and was skipped ({exc.detail}).",
                )
            )
            continue
        if isinstance(local_id, str):
            found[local_id] = med
    return found


def _project(
    rtype: str, raw: Mapping[str, Any], notes: list[str], *, draft: bool = False
) -> dict[str, Any]:
    keep = _KEEP[rtype]
    out = {k: v for k, v in raw.items() if k in keep}
    if rtype == "MedicationRequest":
        _wrap_single(out, "category", notes)
        if draft and "intent" not in out:
            out["intent"] = "order"
            notes.append("intent")
        if isinstance(out.get("dispenseRequest"), Mapping):
            out["dispenseRequest"] = {
                k: v for k, v in out["dispenseRequest"].items() if k in _DISPENSE_REQUEST_KEEP
            }
    if rtype in ("MedicationRequest", "MedicationDispense"):
        _wrap_single(out, "dosageInstruction", notes)
        dosages = out.get("dosageInstruction")
        if isinstance(dosages, list) and dosages:
            # Only the first dosageInstruction is read (as CQF's MMECalculator does).
            out["dosageInstruction"] = [_project_dosage(dosages[0], notes)]
    elif rtype == "Observation":
        components = out.get("component")
        if isinstance(components, list):
            out["component"] = [
                {k: v for k, v in c.items() if k in _COMPONENT_KEEP}
                if isinstance(c, Mapping)
                else c
                for c in components
            ]
    elif rtype == "Condition":
        _wrap_single(out, "category", notes)
    elif rtype == "Encounter":
        hosp = out.get("hospitalization")
        if isinstance(hosp, Mapping):
            out["hospitalization"] = {k: v for k, v in hosp.items() if k == "dischargeDisposition"}
    return out


def _project_dosage(dosage: Any, notes: list[str]) -> Any:
    if not isinstance(dosage, Mapping):
        return dosage  # let validation report it
    out = {k: v for k, v in dosage.items() if k in _DOSAGE_KEEP}
    _wrap_single(out, "doseAndRate", notes, "dosageInstruction.doseAndRate")
    stu3 = {k: dosage[k] for k in _STU3_DOSE_KEYS if k in dosage}
    if stu3:
        if "doseAndRate" not in out:
            out["doseAndRate"] = [stu3]
            notes.append("dosageInstruction.doseQuantity")
        else:
            out.update(stu3)  # both shapes at once: let validation reject it
    timing = out.get("timing")
    if isinstance(timing, Mapping):
        out["timing"] = {k: v for k, v in timing.items() if k in ("repeat", "code")}
    return out


def _wrap_single(out: dict[str, Any], key: str, notes: list[str], label: str | None = None) -> None:
    """R4 has ``0..*`` here; some clients send one object (STU3 or Sandbox shape)."""
    value = out.get(key)
    if isinstance(value, Mapping):
        out[key] = [value]
        notes.append(label or key)


def _reject_pre_r4_request(raw: Mapping[str, Any], i: int, location: str) -> None:
    version = next((v for k, v in _PRE_R4_REQUEST_KEYS.items() if k in raw), None)
    requester = raw.get("requester")
    if version is None and isinstance(requester, Mapping) and "agent" in requester:
        version = "STU3"
    if version is None:
        for dosage in raw.get("dosageInstruction") or []:
            repeat = (
                ((dosage.get("timing") or {}).get("repeat") or {})
                if isinstance(dosage, Mapping)
                else {}
            )
            if isinstance(repeat, Mapping) and "periodUnits" in repeat:
                version = "DSTU2"
    if version is not None:
        raise UnsupportedFhirVersion(
            f"draftOrders entry {i} is a MedicationRequest with {version}-only elements; this "
            "service requires FHIR R4 (4.0.1) resources. Point the CDS client at an R4 FHIR "
            "server.",
            location=location,
        )


_REPAIR_TEXT: Final = {
    "category": "a single category object was read as a one-item list",
    "dosageInstruction": "a single dosageInstruction object was read as a one-item list",
    "dosageInstruction.doseAndRate": "a single doseAndRate object was read as a one-item list",
    "dosageInstruction.doseQuantity": (
        "an STU3-style dose directly on dosageInstruction was read as doseAndRate[0]"
    ),
}


def _repair_gaps(rtype: str, location: str, notes: list[str], rid: Any) -> list[DataGap]:
    gaps = []
    ref = _safe_reference(rtype, rid)
    for note in dict.fromkeys(notes):  # de-duplicate, keep order
        if note == "intent":
            gaps.append(
                DataGap(
                    "defaulted-intent",
                    f"Draft {rtype} at {location} had no intent (required in R4); "
                    "it was read as intent 'order'.",
                    reference=ref,
                )
            )
        else:
            gaps.append(
                DataGap(
                    "repaired-shape",
                    f"{rtype} at {location}: {_REPAIR_TEXT.get(note, note)}.",
                    reference=ref,
                )
            )
    return gaps


def _safe_reference(rtype: str, rid: Any) -> str | None:
    if isinstance(rid, str) and _FHIR_ID.fullmatch(rid):
        return f"{rtype}/{rid}"
    return None
