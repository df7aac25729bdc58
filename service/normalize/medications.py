"""MedicationRequest / MedicationDispense → :class:`rules.timeline.MedicationOrder`.

Dosage handling follows CQF's MMECalculator (clinical-rules P2) so that our MME can
be compared with the reference content:

* only the first ``dosageInstruction`` is read;
* with several ``doseAndRate`` (Epic sends calculated, admin-amount and ordered
  variants) the one typed "ordered" (code or text, any system, e.g.
  ``http://epic.com/CodeSystem/dose-rate-type``) wins, else one without a type, else
  the first;
* dose = ``doseQuantity``, else the upper end of ``doseRange``; the unit is the UCUM
  ``code``, else ``unit``;
* doses per day = ``frequencyMax`` (else ``frequency``, else 1) per ``period``
  ``periodUnit`` (month 30 d, year 365 d; ``periodMax`` ignored, i.e. the shortest
  interval), else the number of ``timeOfDay`` or ``when`` entries, else the
  ``Timing.code`` abbreviation (BID, Q6H...). For PRN orders this is the most the
  directions allow, as in CQF;
* ``maxDosePerPeriod`` is converted to a per-day maximum;
* when structured dose or frequency is missing and ``dosageInstruction.text`` exists,
  :mod:`service.normalize.sig` fills the gap and the dosage is marked ``from_text``.

``MedicationOrder.problem`` is set when directions exist but their dose or frequency
cannot be read (an unparseable sig, a dose range without an upper end), or when the
medication cannot be identified; the MME engine then reports the order as "not
computed" rather than guessing. An order with no directions at all has no problem:
the engine itself falls back to quantity ÷ days supply.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Final

from rules.timeline import NDC, RXNORM, Amount, Code, Dosage, MedicationOrder, OrderSource
from service.fhir.resources import (
    CodeableConcept,
    DosageDoseAndRate,
    Medication,
    MedicationDispense,
    MedicationRequest,
    ParsedResource,
    Ratio,
    Reference,
    TimingRepeat,
)
from service.fhir.resources import Dosage as FhirDosage
from service.normalize.common import (
    UCUM_DAYS,
    amount,
    codes_of,
    concept_codes,
    duration_days,
    local_reference,
    reference_keys,
    resource_keys,
    to_day,
)
from service.normalize.sig import parse_sig

_MEDICATION_SYSTEMS: Final = frozenset({RXNORM, NDC})

#: HL7 v3 GTSAbbreviation codes allowed in ``Timing.code`` → administrations per day.
_TIMING_CODES: Final = {
    "QD": 1.0,
    "BID": 2.0,
    "TID": 3.0,
    "QID": 4.0,
    "AM": 1.0,
    "PM": 1.0,
    "BED": 1.0,
    "QOD": 0.5,
    "Q1H": 24.0,
    "Q2H": 12.0,
    "Q3H": 8.0,
    "Q4H": 6.0,
    "Q6H": 4.0,
    "Q8H": 3.0,
    "Q12H": 2.0,
    "WK": 1 / 7,
    "MO": 1 / 30,
}


class MedicationIndex:
    """Medications that a ``medicationReference`` may point to.

    Filled from prefetched Medications (``_include``) and the Medication entries
    Epic adds to ``draftOrders``; contained Medications are looked up per order.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, Medication] = {}
        # Readings of validated elements, by id. ``service.fhir.resources`` shares one
        # model between all resources of a request with the same element JSON, so a
        # dosage or medication concept repeated over many orders is read once. Each
        # value keeps its element, so that the id cannot be reused while the index lives.
        self._dosages: dict[int, tuple[FhirDosage, tuple[Dosage | None, str | None]]] = {}
        self._concepts: dict[
            int, tuple[CodeableConcept, tuple[tuple[Code, ...], str | None, str | None]]
        ] = {}

    def read_dosage(self, dosage: FhirDosage | None) -> tuple[Dosage | None, str | None]:
        """:func:`read_dosage`, once per distinct dosage element."""
        if dosage is None:
            return None, None
        hit = self._dosages.get(id(dosage))
        if hit is None:
            hit = self._dosages[id(dosage)] = (dosage, read_dosage(dosage))
        return hit[1]

    def concept_reading(
        self, concept: CodeableConcept
    ) -> tuple[tuple[Code, ...], str | None, str | None]:
        """:func:`_read_concept`, once per distinct medication concept."""
        hit = self._concepts.get(id(concept))
        if hit is None:
            hit = self._concepts[id(concept)] = (concept, _read_concept(concept))
        return hit[1]

    def add(self, parsed: ParsedResource) -> None:
        if isinstance(parsed.model, Medication):
            for key in resource_keys("Medication", parsed.model.id, parsed.full_url):
                self._by_key.setdefault(key, parsed.model)

    def resolve(
        self, ref: Reference | None, contained: Mapping[str, Medication]
    ) -> Medication | None:
        if ref is None or not ref.reference:
            return None
        if ref.reference.startswith("#"):
            return contained.get(ref.reference[1:])
        for key in reference_keys(ref.reference):
            if key in self._by_key:
                return self._by_key[key]
        return None


def request_to_order(
    parsed: ParsedResource,
    *,
    source: OrderSource,
    medications: MedicationIndex,
    as_of: date | None = None,
) -> MedicationOrder:
    """A MedicationRequest (history or draft) as a :class:`MedicationOrder`.

    A draft without ``authoredOn``/``validityPeriod.start`` starts on ``as_of``: it
    is being signed today.
    """
    mr = parsed.model
    assert isinstance(mr, MedicationRequest)
    codes, text, med_problem = _medication(
        mr.medicationCodeableConcept, mr.medicationReference, parsed, medications
    )
    dispense = mr.dispenseRequest
    validity = dispense.validityPeriod if dispense else None
    start = to_day(mr.authoredOn) or (to_day(validity.start) if validity else None)
    if start is None and source is OrderSource.DRAFT:
        start = as_of
    supply_days = duration_days(dispense.expectedSupplyDuration) if dispense else None
    quantity = amount(dispense.quantity) if dispense else None
    dosage, dose_problem = medications.read_dosage(
        mr.dosageInstruction[0] if mr.dosageInstruction else None
    )
    return MedicationOrder(
        reference=local_reference("MedicationRequest", mr.id, parsed.location),
        source=source,
        codes=codes,
        text=text,
        status=mr.status,
        intent=mr.intent,
        categories=concept_codes(mr.category),
        start=start,
        end=to_day(validity.end) if validity else None,
        supply_days=supply_days,
        quantity=quantity,
        dosage=dosage,
        problem=med_problem or dose_problem,
        reasons=codes_of(mr.reasonCode),
    )


def dispense_to_order(parsed: ParsedResource, *, medications: MedicationIndex) -> MedicationOrder:
    """A MedicationDispense: what was handed over, for how many days.

    ``authorizingPrescription`` is informational and not followed.
    """
    md = parsed.model
    assert isinstance(md, MedicationDispense)
    codes, text, med_problem = _medication(
        md.medicationCodeableConcept, md.medicationReference, parsed, medications
    )
    supply_days = duration_days(md.daysSupply, default_days=True)
    quantity = amount(md.quantity)
    dosage, dose_problem = medications.read_dosage(
        md.dosageInstruction[0] if md.dosageInstruction else None
    )
    return MedicationOrder(
        reference=local_reference("MedicationDispense", md.id, parsed.location),
        source=OrderSource.DISPENSE,
        codes=codes,
        text=text,
        status=md.status,
        categories=concept_codes([md.category] if md.category else None),
        start=to_day(md.whenHandedOver) or to_day(md.whenPrepared),
        supply_days=supply_days,
        quantity=quantity,
        dosage=dosage,
        problem=med_problem or dose_problem,
    )


def _medication(
    concept: CodeableConcept | None,
    ref: Reference | None,
    parsed: ParsedResource,
    medications: MedicationIndex,
) -> tuple[tuple[Code, ...], str | None, str | None]:
    """(RxNorm/NDC codes, text, problem) from ``medication[x]``."""
    if concept is None and ref is not None:
        med = medications.resolve(ref, parsed.contained)
        if med is None:
            return (), ref.display, "the referenced Medication is not in the record"
        concept = med.code
    if concept is None:
        return _read_concept(None)
    return medications.concept_reading(concept)


def _read_concept(
    concept: CodeableConcept | None,
) -> tuple[tuple[Code, ...], str | None, str | None]:
    codes = codes_of(concept, _MEDICATION_SYSTEMS)
    codes = tuple(sorted(codes, key=lambda c: c.system != RXNORM))  # RxNorm first
    text = None
    if concept is not None:
        text = concept.text or next((c.display for c in concept.coding or () if c.display), None)
    if not codes:
        return (), text, "the medication has no RxNorm or NDC code"
    return codes, text, None


# --- dosage -------------------------------------------------------------------------


def read_dosage(dosage: FhirDosage | None) -> tuple[Dosage | None, str | None]:
    """(dosage, problem). ``problem`` says what could not be read, if anything.

    No ``dosageInstruction`` at all is not a problem here: the MME engine then falls
    back to quantity ÷ days supply (CDC) or its transdermal assumption itself.
    """
    if dosage is None:
        return None, None
    dose, dose_note = _dose(dosage.doseAndRate)
    repeat = dosage.timing.repeat if dosage.timing else None
    per_day = _doses_per_day(repeat)
    if per_day is None and dosage.timing and dosage.timing.code:
        per_day = next(
            (
                _TIMING_CODES[str(c.code).upper()]
                for c in dosage.timing.code.coding or ()
                if c.code and str(c.code).upper() in _TIMING_CODES
            ),
            None,
        )
    as_needed = bool(dosage.asNeededBoolean) or dosage.asNeededCodeableConcept is not None
    max_per_day = _max_per_day(dosage.maxDosePerPeriod)
    from_text = False
    problem: str | None = None

    if (dose is None or per_day is None) and dosage.text:
        sig = parse_sig(dosage.text)
        if dose is None and sig.dose is not None:
            dose, from_text = sig.dose, True
        if per_day is None and sig.doses_per_day is not None:
            per_day, from_text = sig.doses_per_day, True
        as_needed = as_needed or sig.as_needed
        if max_per_day is None and sig.max_per_day is not None:
            max_per_day, from_text = sig.max_per_day, True
        if dose is None or per_day is None:
            problem = sig.problem
    if problem is None and dose is None:
        problem = dose_note or "the dose could not be read"
    if problem is None and per_day is None:
        problem = "the dosing frequency could not be read"

    interval = None
    if per_day and per_day < 1 and _is_patch(dose, dosage):
        interval = 1 / per_day
    result = Dosage(
        dose=dose,
        doses_per_day=per_day,
        as_needed=as_needed,
        max_per_day=max_per_day,
        interval_days=interval,
        from_text=from_text,
        text=dosage.text,
    )
    return result, problem


def _dose(dose_and_rate: list[DosageDoseAndRate] | None) -> tuple[Amount | None, str | None]:
    chosen = _chosen_dose_and_rate(dose_and_rate or [])
    if chosen is None:
        return None, None
    if chosen.doseQuantity is not None:
        return amount(chosen.doseQuantity), None
    if chosen.doseRange is not None:
        high = amount(chosen.doseRange.high)
        if high is not None:
            return high, None
        return None, "the dose range has no upper limit"
    return None, None


def _chosen_dose_and_rate(items: list[DosageDoseAndRate]) -> DosageDoseAndRate | None:
    if len(items) <= 1:
        return items[0] if items else None
    for item in items:
        if item.type is not None and _is_ordered(item.type):
            return item
    return next((item for item in items if item.type is None), items[0])


def _is_ordered(concept: CodeableConcept) -> bool:
    if (concept.text or "").strip().lower() == "ordered":
        return True
    return any(str(c.code or "").lower() == "ordered" for c in concept.coding or ())


def _doses_per_day(repeat: TimingRepeat | None) -> float | None:
    if repeat is None:
        return None
    frequency = repeat.frequencyMax or repeat.frequency
    if repeat.period is not None and repeat.periodUnit:
        period_days = float(repeat.period) * UCUM_DAYS.get(str(repeat.periodUnit), 0.0)
        if period_days <= 0:
            return None
        return (frequency or 1) / period_days
    if repeat.timeOfDay:
        return float(len(repeat.timeOfDay))
    if repeat.when:
        return float(len(repeat.when))
    return None


def _max_per_day(ratio: Ratio | None) -> Amount | None:
    if ratio is None:
        return None
    numerator = amount(ratio.numerator)
    days = duration_days(ratio.denominator)
    if numerator is None or not days:
        return None
    return Amount(numerator.value / days, numerator.unit)


def _is_patch(dose: Amount | None, dosage: FhirDosage) -> bool:
    """A transdermal system: its interval is how long one patch is worn."""
    if dose is not None and dose.unit and "patch" in dose.unit.lower():
        return True
    route = dosage.route
    words = [route.text or ""] if route else []
    words += [c.display or "" for c in (route.coding or [])] if route else []
    return any("transdermal" in w.lower() for w in words) or (
        route is not None and any(c.code == "45890007" for c in route.coding or ())
    )
