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

How the projection is validated: field by field, same result
------------------------------------------------------------
``Model.model_validate`` spends most of its time on fhir_core's per-model overhead
(model validators, ~60 defaulted fields), not on our few fields. So each projected
resource first goes through a fast path (:meth:`ValidationCache.resource`): every
primitive is validated by a pydantic ``SchemaValidator`` compiled from *that R4B
field's own core schema* (pattern, length, range, FHIR date/dateTime/instant rules),
every complex element recursively the same way for its own R4B model, with each
element and each primitive value validated once per request (``ValidationCache``);
R4B's model-level rules are checked explicitly: no unknown key, no null, the
pydantic-required and ``element_required`` fields present, at most one value per
choice type ``[x]`` and exactly one where it is required. Only then is the model
assembled as ``model_construct`` does. The fast path never rejects: when anything
is unusual (an invalid value, a null, an ``_x`` extension standing in for a value,
a model with validators of its own) it declines and the resource goes through
``model_validate`` as before, so a malformed resource is rejected with the same
message, and a valid one gives the same model (the comment opening the fast-path section lists
what ``model_validate`` does and why this is equivalent; the tests compare the two
on every mutation of sample resources, and the timelines of every scenario and
Synthea record with the fast path on and off).

Errors
------
A malformed history resource becomes a :class:`~rules.timeline.DataGap`
(``invalid-resource``) naming its type and position, never its content, and is
skipped. A malformed draft order raises :class:`~cds_hooks.errors.InvalidRequest`
(400) located at ``context.draftOrders.entry[i]``; a DSTU2/STU3 draft raises
:class:`~cds_hooks.errors.UnsupportedFhirVersion`. The exception is a malformed
*secondary* element (``_SECONDARY``: the order's ``reasonCode``): the resource is then
kept without it, with an ``ignored-element`` note.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, Final, TypeAlias, TypeVar, Union, get_args, get_origin

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
from fhir_core.types import Date, DateTime, FhirBase, FhirElementOrResourceBase, Instant
from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaValidator

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
            "reasonCode",
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
#: Read, but not essential: when only these are malformed, the resource is kept without
#: them (a data-quality note says so). An OUD reason only ever stops methadone or
#: buprenorphine from counting, so losing it can only make the MME higher, never hide a dose.
_SECONDARY: Final = ("reasonCode",)
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
        "reasonCode": _CC,
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


#: (element model, the element's exact JSON)
_EntryKey: TypeAlias = tuple[type[FHIRAbstractModel], bytes]
#: (a primitive field's validator, the JSON value's type, the value)
_PrimitiveKey: TypeAlias = tuple[Any, type, Any]


class ValidationCache:
    """Validated R4B elements of one request, keyed by their exact JSON.

    Scoped to one request on purpose: never shared across patients. Besides the
    elements of :data:`_ELEMENTS` (validated by ``model_validate``), it holds the
    results of the fast path (:meth:`resource`): every complex element at any depth,
    keyed by ``(model, JSON)``, and every primitive value, keyed by
    ``(validator, type, value)``.
    """

    __slots__ = ("_entries", "_primitives")

    def __init__(self) -> None:
        self._entries: dict[_EntryKey, FHIRAbstractModel | str] = {}
        self._primitives: dict[_PrimitiveKey, Any] = {}

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

    # --- the fast path ----------------------------------------------------------------

    def resource(self, model: type[_M], value: Mapping[str, Any]) -> _M | None:
        """``model`` built from ``value`` if it is certainly valid, else ``None``.

        ``None`` means "not sure", never "invalid": the caller then runs the full
        ``model_validate`` path, which accepts or rejects with its own error message.
        See :func:`_plan` for what is checked and why it is equivalent.
        """
        plan = _plan(model)
        if plan is None:
            return None
        return self._build(plan, value)  # type: ignore[return-value]

    def _build(self, plan: _Plan, value: Mapping[str, Any]) -> FHIRAbstractModel | None:
        fields = plan.fields
        primitives = self._primitives
        values: dict[str, Any] = {}
        chosen = 0  # the bits (see _Field.choice) of the [x] that have a value
        for key, item in value.items():
            f = fields.get(key)
            if f is None:
                # FHIRAbstractModel.__init__ drops a matching resourceType; anything
                # else (an unknown key, a field name instead of its alias) is left to
                # the full path.
                if key == "resourceType" and item == plan.resource_type:
                    continue
                return None
            if item is None:
                return None
            if f.choice:
                if chosen & f.choice:
                    return None  # a second value for the same [x]
                chosen |= f.choice
            kind = f.kind
            validated: Any
            if kind is _PRIMITIVE:
                item_type = type(item)
                if item_type in _SCALARS:
                    pkey = (f.validator, item_type, item)
                    validated = primitives.get(pkey, _MISSING)
                    if validated is _MISSING:
                        validated = self._primitive(f, item, pkey)
                else:  # a list of primitives, or a wrong shape: not hashable
                    validated = self._primitive(f, item, None)
                if validated is _INVALID:
                    return None
            elif kind is _COMPLEX:
                validated = self._element(f, item)
                if validated is None:
                    return None
            elif kind is _COMPLEX_LIST:
                if type(item) is not list:
                    return None
                validated = []
                for element in item:
                    one = self._element(f, element)
                    if one is None:
                        return None
                    validated.append(one)
            else:
                return None
            values[f.name] = validated
        if chosen & plan.required_choices != plan.required_choices:
            return None
        for key in plan.required:
            if key not in value:
                return None
        return _construct(plan, values)

    def _primitive(self, f: _Field, item: Any, key: _PrimitiveKey | None) -> Any:
        """Validate one primitive with its field's own schema; cache it under ``key``."""
        validated = _MISSING
        if f.shortcut is not None and type(item) is str:
            validated = f.shortcut(item)
        if validated is _MISSING:
            try:
                validated = f.validator.validate_python(item)  # type: ignore[union-attr]
            except (ValidationError, ValueError, TypeError):
                validated = _INVALID
        if key is not None:
            self._primitives[key] = validated
        return validated

    def _element(self, f: _Field, item: Any) -> FHIRAbstractModel | None:
        """One complex element, from the request's cache or built; None when invalid."""
        if type(item) is not dict:
            return None
        try:
            key: _EntryKey | None = (f.model or f.element_model(), orjson.dumps(item))
        except TypeError:
            key = None
        cached = self._entries.get(key) if key is not None else None
        if cached is None:
            return self._complex(f, item, key)
        if isinstance(cached, str):
            return None  # known invalid: the full path reports it
        return cached

    def _complex(
        self,
        f: _Field,
        item: dict[str, Any],
        key: _EntryKey | None,
    ) -> FHIRAbstractModel | None:
        """A complex element not in the cache yet: build it, and cache it under ``key``."""
        model = f.element_model()
        plan = f.plan
        if plan is _MISSING:
            plan = f.plan = _plan(model)
        if plan is not None:
            built = self._build(plan, item)
        else:  # a model with validators of its own: validate it the ordinary way
            try:
                built = model.model_validate(item)
            except (ValidationError, ValueError, TypeError):
                built = None
        if built is not None and key is not None:
            self._entries[key] = built
        return built


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


# --- the fast path: R4B validation field by field ------------------------------------
#
# ``Model.model_validate(data)`` of an R4B model does exactly this (fhir_core 1.x on
# pydantic 2, checked in :func:`_plan` for every class before it is used):
#
# 1. ``FHIRAbstractModel.__init__`` pops a ``resourceType`` key that is not a field
#    and rejects it unless it equals the model's ``__resource_type__``;
# 2. the ``before`` model validator ``reject_null_complex_elements`` rejects a
#    ``None`` item in a list of complex elements;
# 3. pydantic validates each field with its own core schema under the model's config
#    (``extra="forbid"``, validation by alias or by name): a primitive with its
#    fhir_core type (pattern, length, range, date parsing), a complex element with
#    ``FhirBase.fhir_model_validator``, i.e. ``ElementModel.model_validate`` of the
#    dict, recursively; missing fields take their default (``None``), a missing
#    pydantic-required field (``Observation.code``) is an error;
# 4. the ``after`` validator ``validate_after_model_construction`` rejects a missing
#    ``element_required`` primitive (``get_required_fields``: ``status``,
#    ``intent``...) unless its ``_x`` extension sibling carries an extension, and a
#    choice type (``get_one_of_many_fields``: ``value[x]``, ``effective[x]``...) with
#    more than one value or, if required (``medication[x]``), none.
#
# The fast path accepts ``data`` only if it satisfies all of that, more strictly:
# every key is a field's alias (or the matching ``resourceType``), no value is
# ``None``, every primitive passes a pydantic ``SchemaValidator`` built from *that
# field's own core schema and the model's config* (so the same value comes out), every
# complex element is a dict accepted by the same procedure for its own model (or by
# its ``model_validate`` when the model has validators of its own), every required
# field and every element_required primitive is present with a value, and every
# choice type has at most one value (exactly one if required). Then the model is
# assembled the way ``BaseModel.model_construct`` does it (``__dict__`` with every
# field, the others at their default; ``__pydantic_fields_set__`` = the given
# fields), which gives the same instance as ``model_validate`` (tests compare them).
# Anything else (an unknown key, a null, a wrong shape, an invalid value, a
# ``_status`` extension standing in for ``status``...) returns ``None`` and the
# caller runs ``model_validate``, so a malformed resource is rejected with the very
# same error as before. The fast path only ever saves work on valid input.

_PRIMITIVE: Final = "primitive"
_COMPLEX: Final = "complex"
_COMPLEX_LIST: Final = "complex-list"
_UNSUPPORTED: Final = "unsupported"
_MISSING: Final = object()
_SCALARS: Final = frozenset({str, int, float, bool})
_INVALID: Final = object()
_STANDARD_MODEL_VALIDATORS: Final = {
    "reject_null_complex_elements": "before",
    "validate_after_model_construction": "after",
}


class _Field:
    """How to validate one field: its name, and its R4B element model or primitive schema."""

    __slots__ = ("choice", "fhir_type", "kind", "model", "name", "plan", "shortcut", "validator")

    def __init__(
        self,
        name: str,
        kind: str,
        fhir_type: type[FhirBase] | None = None,
        validator: SchemaValidator | None = None,
        shortcut: Callable[[str], Any] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.fhir_type = fhir_type  # e.g. fhirtypes.CodeableConceptType
        self.model: type[FHIRAbstractModel] | None = None  # its model, imported on first use
        self.validator = validator
        self.shortcut = shortcut  # see _temporal_shortcut
        self.choice = 0  # the bit of the choice type ([x]) it belongs to, if any
        self.plan: Any = _MISSING  # the model's plan, looked up on first use

    def element_model(self) -> type[FHIRAbstractModel]:
        """The R4B model of a complex field (``get_model_klass`` imports its module)."""
        if self.model is None:
            assert self.fhir_type is not None
            self.model = self.fhir_type.get_model_klass()
        return self.model


@dataclass(frozen=True, slots=True)
class _Plan:
    """What ``model_validate`` checks for one model class (metadata only, no data)."""

    model: type[FHIRAbstractModel]
    resource_type: str
    fields: Mapping[str, _Field]  # by alias, i.e. the JSON key
    required: tuple[str, ...]  # aliases that must be present with a value
    required_choices: int  # bits (see _Field.choice) of the [x] that need a value
    defaults: dict[str, Any]  # every field name -> its default (None); copied, never changed


#: Per model class, built on first use. Process-wide on purpose: a plan is derived
#: from the class alone and holds no patient data.
_PLANS: dict[type[FHIRAbstractModel], _Plan | None] = {}


def _plan(model: type[FHIRAbstractModel]) -> _Plan | None:
    try:
        return _PLANS[model]
    except KeyError:
        pass
    try:
        plan = _make_plan(model)
    except Exception:  # an unexpected model shape: use model_validate
        plan = None
    _PLANS[model] = plan
    return plan


def _make_plan(model: type[FHIRAbstractModel]) -> _Plan | None:
    """The plan for ``model``, or ``None`` if it does anything the fast path does not mirror."""
    decorators = model.__pydantic_decorators__
    if (
        model.__init__ is not FHIRAbstractModel.__init__
        or model.__new__ is not object.__new__
        or model.model_post_init is not BaseModel.model_post_init
        or model.__pydantic_root_model__
        or model.__private_attributes__
        or decorators.field_validators
        or decorators.validators
        or decorators.root_validators
        or {k: d.info.mode for k, d in decorators.model_validators.items()}
        != _STANDARD_MODEL_VALIDATORS
        or getattr(model, "reject_null_complex_elements").__func__  # noqa: B009
        is not getattr(FHIRAbstractModel, "reject_null_complex_elements").__func__  # noqa: B009
        or model.validate_after_model_construction
        is not FHIRAbstractModel.validate_after_model_construction
        or model._validate_one_of_many is not FHIRAbstractModel._validate_one_of_many
        or model._validate_required_primitive_elements
        is not FHIRAbstractModel._validate_required_primitive_elements
        or "resourceType" in model.model_fields
    ):
        return None
    # The compiled schema must be after(validate_after) -> model(custom __init__) ->
    # before(reject_null) -> model-fields, as FHIRAbstractModel builds it.
    schema: Any = model.__pydantic_core_schema__
    if schema.get("type") != "function-after":
        return None
    schema = schema["schema"]
    if schema.get("type") != "model" or schema.get("cls") is not model:
        return None
    config = schema.get("config") or {}
    if config.get("extra_fields_behavior") != "forbid":
        return None
    schema = schema["schema"]
    if schema.get("type") != "function-before":
        return None
    schema = schema["schema"]
    if schema.get("type") != "model-fields" or schema.get("computed_fields"):
        return None
    core_fields = schema["fields"]
    if set(core_fields) != set(model.model_fields):
        return None

    fields: dict[str, _Field] = {}
    defaults: dict[str, Any] = {}
    required: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        core = core_fields[name]
        if core.get("validation_alias", alias) != alias:
            return None
        if info.is_required():
            required.append(alias)
        elif info.default_factory is not None or info.default is not None:
            return None  # a non-None default we would have to copy
        defaults[name] = None
        fields[alias] = _make_field(name, info.annotation, core["schema"], config)
    dummy = model.model_construct()
    for element, _ext in dummy.get_required_fields():
        info = model.model_fields[model.get_alias_mapping()[element]]
        required.append(info.alias or element)
    required_choices = 0
    for i, names in enumerate(dummy.get_one_of_many_fields().values()):
        extra = model.model_fields[names[0]].json_schema_extra
        assert isinstance(extra, dict)
        for name in names:
            fields[model.model_fields[name].alias or name].choice = 1 << i
        if extra.get("one_of_many_required") is True:
            required_choices |= 1 << i
    return _Plan(
        model=model,
        resource_type=model.__resource_type__,
        fields=fields,
        required=tuple(dict.fromkeys(required)),
        required_choices=required_choices,
        defaults=defaults,
    )


def _make_field(name: str, annotation: Any, schema: Any, config: Any) -> _Field:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        annotation = args[0]
    many = get_origin(annotation) is list
    target = get_args(annotation)[0] if many else annotation
    if isinstance(target, type) and issubclass(target, FhirBase):
        if issubclass(target, FhirElementOrResourceBase):
            return _Field(name, _UNSUPPORTED)  # polymorphic (contained resources)
        # the core schema must be FhirBase's wrap validator, optionally in a list
        inner = schema
        while inner.get("type") in ("default", "nullable"):
            inner = inner["schema"]
        if many:
            if inner.get("type") != "list":
                return _Field(name, _UNSUPPORTED)
            inner = inner["items_schema"]
        if inner.get("type") != "function-wrap" or inner.get("schema", {}).get("type") != "any":
            return _Field(name, _UNSUPPORTED)
        return _Field(name, _COMPLEX_LIST if many else _COMPLEX, fhir_type=target)
    return _Field(
        name,
        _PRIMITIVE,
        validator=_schema_validator(schema, config),
        shortcut=_temporal_shortcut(schema, config),
    )


_TEMPORAL: Final = {"date": Date, "dateTime": DateTime, "instant": Instant}


def _temporal_shortcut(schema: Any, config: Any) -> Callable[[str], Any] | None:
    """fhir_core's date/dateTime/instant check for the common complete forms, minus its detours.

    For a ``str``, ``Date``/``DateTime``/``Instant._validate`` (fhir_core 1.x) match the
    type's regex, look for a partial date (kept as a string), then for a leap second
    (kept as a string), then call the inner pydantic ``date``/``datetime`` validator,
    turning a date-only dateTime into a ``date``. For a value that fully matches the
    regex and is a complete date (``YYYY-MM-DD``) or a complete date-time with a zone
    and no leap second, that is exactly: inner validator (then ``.date()`` for a
    date-only dateTime). The shortcut does just that, with the same inner schema and
    config, and answers ``_MISSING`` (run the full validator) for every other shape and
    whenever the inner validator objects, so it can only ever save time on valid input.
    Values are still checked once per request (see ``ValidationCache``); the tests
    compare it with the full validator on generated strings.
    """
    while schema.get("type") in ("default", "nullable"):
        schema = schema["schema"]
    if schema.get("type") != "function-wrap":
        return None
    function = schema.get("function", {}).get("function")
    # A bound classmethod equals another only for the same function and class, so a
    # subclass that overrides ``_validate`` (or a type of our own) is never taken for these.
    kind = next((k for k, t in _TEMPORAL.items() if function == t._validate), None)
    inner_schema = schema.get("schema", {})
    if kind is None or inner_schema.get("type") != ("date" if kind == "date" else "datetime"):
        return None
    pattern = _TEMPORAL[kind].pattern
    inner_config: Any = {k: v for k, v in config.items() if k != "title"}
    inner = SchemaValidator(inner_schema, inner_config)
    validate = inner.validate_python

    def shortcut(value: str) -> Any:
        try:
            if len(value) == 10 and kind != "instant" and pattern.fullmatch(value):
                result = validate(value)
                return result if kind == "date" else result.date()
            if (
                len(value) > 19
                and kind != "date"
                and value[10] == "T"
                and value[17:19] != "60"
                and pattern.fullmatch(value)
            ):
                result = validate(value)
                return result if result.tzinfo is not None else _MISSING
        except (ValidationError, ValueError, TypeError):
            pass
        return _MISSING

    return shortcut


#: Primitive validators by their schema: the same fhir_core type on many fields (every
#: ``string``, ``code``, ``dateTime``...) compiles once, and its values are cached once.
_VALIDATORS: dict[str, SchemaValidator] = {}
#: Schema keys that do not take part in validation (a serializer is a new closure per
#: field, so it would make every field's schema look different).
_NOT_VALIDATION: Final = frozenset({"serialization", "metadata"})


def _validation_part(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _validation_part(v) for k, v in schema.items() if k not in _NOT_VALIDATION}
    if isinstance(schema, list | tuple):
        return [_validation_part(v) for v in schema]
    return schema


def _schema_validator(schema: Any, config: Any) -> SchemaValidator:
    # The config's title only names the model in error messages, which the fast path
    # never shows (an invalid value sends the resource to model_validate).
    config = {k: v for k, v in config.items() if k != "title"}
    key = repr((_validation_part(schema), config))
    validator = _VALIDATORS.get(key)
    if validator is None:
        validator = _VALIDATORS[key] = SchemaValidator(schema, config)
    return validator


def _construct(plan: _Plan, values: dict[str, Any]) -> FHIRAbstractModel:
    """``plan.model.model_construct(**values)``, without its per-field loop.

    Same state as pydantic's ``model_construct`` (and as ``model_validate`` of data
    that gave these values): every field in ``__dict__`` (the absent ones at their
    ``None`` default), the given fields in ``__pydantic_fields_set__``, no extra and
    no private attributes (checked in :func:`_make_plan`).
    """
    instance = _new(plan.model)
    state = plan.defaults.copy()
    state.update(values)
    _setattr(instance, "__dict__", state)
    _set_fields_set(instance, set(values))
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


# BaseModel keeps these in __slots__; setting them through their slot descriptors is
# what object.__setattr__ (used by pydantic's model_construct) ends up doing.
_new = object.__new__
_setattr = object.__setattr__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


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
    try:
        model = _validate_projected(_MODELS[rtype], rtype, projected, cache)
    except _ResourceError as exc:
        if not any(key in projected for key in _SECONDARY):
            raise
        # A secondary element (the order's reason) must not sink the order: validate
        # without it, and say that it was ignored. If the rest fails too, that error wins.
        retry_notes: list[str] = []
        projected = _project(rtype, raw, retry_notes, draft=draft)
        dropped = [key for key in _SECONDARY if projected.pop(key, None) is not None]
        model = _validate_projected(_MODELS[rtype], rtype, projected, cache)
        notes[:] = [n for n in retry_notes if n not in dropped]
        gaps.append(
            DataGap(
                "ignored-element",
                f"{rtype} at {location}: {', '.join(dropped)} is not valid FHIR R4 and was "
                f"ignored ({exc.detail}).",
                reference=_safe_reference(rtype, raw.get("id")),
            )
        )
    contained: dict[str, Medication] = {}
    if rtype in ("MedicationRequest", "MedicationDispense"):
        contained = _contained_medications(raw, location, gaps, cache, draft=draft)
    return ParsedResource(model=model, location=location, full_url=full_url, contained=contained)


def _validate_projected(
    model: type[_M], rtype: str, projected: dict[str, Any], cache: ValidationCache
) -> _M:
    """The R4B model of a projected resource: the fast path, else full validation.

    The fast path (:meth:`ValidationCache.resource`) accepts only what
    ``model_validate`` accepts and builds the same model; when it is not sure, the
    resource goes the full way, which raises :class:`_ResourceError` with the
    message of the first failing fields.
    """
    fast = cache.resource(model, projected)
    if fast is not None:
        return fast
    _prevalidate(rtype, projected, cache)
    return _model_validate(model, projected)


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
            med = _validate_projected(Medication, "Medication", projected, cache)
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
        _wrap_single(out, "reasonCode", notes)  # the CDS Hooks Sandbox sends one object
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
        # Look only where a DSTU2 dosage would be; any other shape is left to validation
        # (a 400 naming the field), never a crash.
        dosages = raw.get("dosageInstruction")
        for dosage in dosages if isinstance(dosages, list) else ():
            timing = dosage.get("timing") if isinstance(dosage, Mapping) else None
            repeat = timing.get("repeat") if isinstance(timing, Mapping) else None
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
    "reasonCode": "a single reasonCode object was read as a one-item list",
    "dosageInstruction": "a single dosageInstruction object was read as a one-item list",
    "dosageInstruction.doseAndRate": "a single doseAndRate object was read as a one-item list",
    "dosageInstruction.doseQuantity": (
        "an STU3-style dose directly on dosageInstruction was read as doseAndRate[0]"
    ),
}


def _repair_gaps(rtype: str, location: str, notes: list[str], rid: Any) -> list[DataGap]:
    if not notes:
        return []
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
