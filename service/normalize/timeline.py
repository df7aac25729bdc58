"""The single entry point from decoded FHIR JSON to :class:`rules.timeline.PatientTimeline`.

The hook handler calls :func:`build_timeline` with the prefetch/fetched slots and the
hook's ``draftOrders``. Resources are routed by type, not by slot, so a client that
puts Medications in ``medicationRequests`` (``_include``) or sends a whole record in
one slot still works; ``(type, id)`` duplicates across slots are read once.

Pure: the day is passed in as ``as_of``, nothing is logged (resources and
identifiers must never reach logs), and every data-quality problem becomes a
:class:`DataGap` in ``PatientTimeline.gaps``. Draft-order errors are raised
(:class:`~cds_hooks.errors.InvalidRequest` / ``UnsupportedFhirVersion``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from rules.timeline import DataGap, EncounterFact, OrderSource, PatientTimeline
from service.fhir.resources import (
    Condition,
    Encounter,
    Medication,
    MedicationDispense,
    MedicationRequest,
    Observation,
    ParsedResource,
    Patient,
    Procedure,
    ServiceRequest,
    ValidationCache,
    parse_draft_orders,
    parse_resources,
)
from service.normalize.common import precise_day, reference_keys
from service.normalize.conditions import condition_fact
from service.normalize.encounters import encounter_fact, encounter_keys
from service.normalize.medications import MedicationIndex, dispense_to_order, request_to_order
from service.normalize.observations import is_wanted_observation, lab_results, pain_scores
from service.normalize.procedures import procedure_fact

#: Model class -> what the timeline makes of it. ``parse_resources`` returns instances of
#: exactly these classes (``service.fhir.resources._MODELS``), never subclasses.
_KINDS: Final[Mapping[type, str]] = {
    Medication: "medication",
    Encounter: "encounter",
    MedicationRequest: "order",
    MedicationDispense: "order",
    Observation: "observation",
    Condition: "condition",
    Procedure: "procedure",
    ServiceRequest: "procedure",
    Patient: "patient",
}
_KIND_NAMES: Final = tuple(dict.fromkeys(_KINDS.values()))


def _accept(raw: Mapping[str, Any]) -> bool:
    """Skip, before validation, the Observations we never read (vital signs, surveys...)."""
    return raw.get("resourceType") != "Observation" or is_wanted_observation(raw)


def build_timeline(
    slots: Mapping[str, Any],
    draft_orders: Mapping[str, Any] | None,
    as_of: date,
    context_encounter_id: str | None = None,
) -> PatientTimeline:
    """Normalise one request's FHIR data.

    ``slots`` maps prefetch keys (``service.catalog.PREFETCH_TEMPLATES``) to decoded
    JSON: a Bundle, a single resource, a list, or ``None`` (no data). ``draft_orders``
    is ``context.draftOrders`` of an order hook, or ``None``.
    """
    cache = ValidationCache()
    seen: set[tuple[str, str]] = set()
    gaps: list[DataGap] = []

    drafts_parsed = parse_draft_orders(draft_orders, cache=cache)
    gaps.extend(drafts_parsed.gaps)
    parsed: list[ParsedResource] = []
    for slot, value in slots.items():
        result = parse_resources(value, slot=slot, accept=_accept, seen=seen, cache=cache)
        parsed.extend(result.resources)
        gaps.extend(result.gaps)

    # One pass to sort the resources by kind, keeping their order within each kind
    # (requests and dispenses together, procedures and service requests together).
    kinds: dict[str, list[ParsedResource]] = {kind: [] for kind in _KIND_NAMES}
    for p in parsed:
        kind = _KINDS.get(type(p.model))
        if kind is not None:
            kinds[kind].append(p)

    medications = MedicationIndex()
    for p in kinds["medication"]:
        medications.add(p)
    for p in drafts_parsed.resources:
        if isinstance(p.model, Medication):
            medications.add(p)

    encounters: list[EncounterFact] = []
    encounter_classes: dict[str, str] = {}
    by_key: dict[str, EncounterFact] = {}
    for p in kinds["encounter"]:
        fact = encounter_fact(p)
        encounters.append(fact)
        for key in encounter_keys(p):
            by_key.setdefault(key, fact)
            if fact.class_code:
                encounter_classes.setdefault(key, fact.class_code)

    orders = [
        request_to_order(p, source=OrderSource.REQUEST, medications=medications)
        if isinstance(p.model, MedicationRequest)
        else dispense_to_order(p, medications=medications)
        for p in kinds["order"]
    ]
    drafts = [
        request_to_order(p, source=OrderSource.DRAFT, medications=medications, as_of=as_of)
        for p in drafts_parsed.resources
        if isinstance(p.model, MedicationRequest)
    ]

    observations = kinds["observation"]
    scores, score_gaps = pain_scores(observations, encounter_classes, as_of=as_of)
    labs, lab_gaps = lab_results(observations, as_of=as_of)
    gaps.extend(score_gaps)
    gaps.extend(lab_gaps)

    conditions = [condition_fact(p) for p in kinds["condition"]]
    procedures = [procedure_fact(p) for p in kinds["procedure"]]

    birth_date = None
    for p in kinds["patient"][:1]:
        assert isinstance(p.model, Patient)
        birth_date = precise_day(p.model.birthDate)
        if birth_date is None:
            gaps.append(DataGap("no-birth-date", "The Patient has no full birth date."))

    context_encounter = None
    if context_encounter_id:
        context_encounter = next(
            (by_key[k] for k in reference_keys(f"Encounter/{context_encounter_id}") if k in by_key),
            None,
        )
        if context_encounter is None:
            gaps.append(
                DataGap(
                    "context-encounter-not-found",
                    "The hook's encounterId is not among the encounters received; its setting "
                    "(ambulatory, ED, inpatient) is unknown.",
                )
            )

    return PatientTimeline(
        as_of=as_of,
        birth_date=birth_date,
        orders=tuple(sorted(orders, key=_order_key)),
        drafts=tuple(drafts),
        pain_scores=tuple(scores),
        conditions=tuple(conditions),
        encounters=tuple(sorted(encounters, key=lambda e: (e.start or date.min, e.reference))),
        procedures=tuple(sorted(procedures, key=lambda p: (p.day or date.min, p.reference or ""))),
        labs=tuple(labs),
        context_encounter=context_encounter,
        gaps=tuple(gaps),
    )


def _order_key(order: Any) -> tuple[date, str]:
    return (order.start or date.min, order.reference)
