"""The normalised patient timeline: the only input the clinical rules ever see.

``service.normalize`` builds it from FHIR resources; ``rules`` reads it. Every type
here is a plain frozen dataclass of strings, numbers and dates, so that the rules can
be tested without FHIR, HTTP or a clock. Anything that could not be read from the
record is kept as a :class:`DataGap` rather than dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


@dataclass(frozen=True, slots=True)
class Code:
    """One coding: a terminology system URI, a code and an optional display."""

    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Amount:
    """A number with its unit as written in the record (``mg``, ``mL``, ``{tbl}``, ``mcg/h``...)."""

    value: float
    unit: str | None = None


class OrderSource(StrEnum):
    """Where a medication exposure came from."""

    REQUEST = "request"  # a MedicationRequest in the record
    DISPENSE = "dispense"  # a MedicationDispense (what was handed over)
    DRAFT = "draft"  # an unsigned order from the hook context (order-select / order-sign)


@dataclass(frozen=True, slots=True)
class Dosage:
    """One order's directions, already read out of FHIR or parsed from free text.

    ``dose`` is one administration (``5 mg``, ``2 {tbl}``, ``1 {patch}``, ``5 mL``).
    ``doses_per_day`` is the scheduled count; for as-needed orders it is the most the
    directions allow (``frequencyMax`` or the plain frequency, as in CQF's MMECalculator).
    ``max_per_day`` is a ``maxDosePerPeriod`` limit converted to one day, when given.
    ``interval_days`` is how long one administration lasts when that is more than a
    day (a 72-hour patch is ``3.0``); for everything else it is ``None``.
    """

    dose: Amount | None
    doses_per_day: float | None
    as_needed: bool = False
    max_per_day: Amount | None = None
    interval_days: float | None = None
    from_text: bool = False  # parsed from dosageInstruction.text, not structured fields
    text: str | None = None


@dataclass(frozen=True, slots=True)
class MedicationOrder:
    """A medication order or dispense, as far as MME and the rules need it.

    ``reference`` is the FHIR-style local reference (``MedicationRequest/abc``); it is
    used to explain results and to build suggestions, never logged.
    ``problem`` says why the order could not be read well enough to compute a dose
    (for example an unreadable sig); the MME engine then reports it as not computed.
    """

    reference: str
    source: OrderSource
    codes: tuple[Code, ...]
    text: str | None = None
    status: str | None = None
    intent: str | None = None
    categories: tuple[str, ...] = ()
    start: date | None = None  # authoredOn, validityPeriod.start or whenHandedOver
    end: date | None = None  # validityPeriod.end, or the day it was stopped
    supply_days: float | None = None  # expectedSupplyDuration / daysSupply, in days
    quantity: Amount | None = None  # dispenseRequest.quantity / dispense quantity
    dosage: Dosage | None = None
    problem: str | None = None
    #: ``MedicationRequest.reasonCode`` codings: an opioid use disorder code here makes a
    #: methadone or buprenorphine order MOUD, which is never counted in MME.
    reasons: tuple[Code, ...] = ()


class PainInstrument(StrEnum):
    """Pain instruments that are never pooled into one trend."""

    PEG = "peg"  # PEG mean (91147-9) or PEG item 1 average pain (75893-8)
    NRS = "nrs"  # 0-10 numeric rating (72514-3, and 38208-5 when known to be 0-10)
    FACES = "faces"  # Wong-Baker FACES (38221-8)
    PROMIS = "promis"  # PROMIS pain intensity / interference
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PainScore:
    """One pain score on a 0-10 scale, with the setting it was taken in when known."""

    day: date
    value: float
    instrument: PainInstrument
    code: str  # the LOINC (or local) code it came from
    encounter_class: str | None = None  # v3 ActCode: AMB, VR, EMER, IMP, ACUTE, OBSENC...
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class ConditionFact:
    """A coded Condition (or a coded Observation used as a finding)."""

    codes: tuple[Code, ...]
    clinical_status: str | None = None  # active, recurrence, relapse, inactive, remission, resolved
    verification_status: str | None = None
    categories: tuple[str, ...] = ()  # problem-list-item, encounter-diagnosis, health-concern
    onset: date | None = None
    recorded: date | None = None
    abatement: date | None = None
    encounter_reference: str | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class EncounterFact:
    reference: str
    class_code: str | None = None  # v3 ActCode: AMB, EMER, IMP, ACUTE, OBSENC, VR, HH...
    types: tuple[Code, ...] = ()
    start: date | None = None
    end: date | None = None
    discharge_disposition: tuple[Code, ...] = ()
    diagnosis_condition_refs: tuple[str, ...] = ()
    status: str | None = None


@dataclass(frozen=True, slots=True)
class ProcedureFact:
    """A Procedure or ServiceRequest (hospice referral, surgery, palliative care...)."""

    codes: tuple[Code, ...]
    day: date | None = None
    status: str | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class LabResult:
    """A numeric Observation such as eGFR or QTc."""

    code: str  # LOINC
    value: float
    unit: str | None
    day: date
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class DataGap:
    """Something in the record that could not be used, said plainly.

    ``code`` is stable (for tests, metrics and the explain endpoint); ``message`` is a
    sentence a clinician or integration engineer can act on.
    """

    code: str
    message: str
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class PatientTimeline:
    """Everything the rules read about one patient, evaluated as of one day."""

    as_of: date
    birth_date: date | None = None
    orders: tuple[MedicationOrder, ...] = ()  # history: requests and dispenses
    drafts: tuple[MedicationOrder, ...] = ()  # unsigned orders of an order hook
    pain_scores: tuple[PainScore, ...] = ()
    conditions: tuple[ConditionFact, ...] = ()
    encounters: tuple[EncounterFact, ...] = ()
    procedures: tuple[ProcedureFact, ...] = ()
    labs: tuple[LabResult, ...] = ()
    context_encounter: EncounterFact | None = None  # the hook's encounterId, when known
    gaps: tuple[DataGap, ...] = field(default_factory=tuple)
