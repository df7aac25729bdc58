"""The three CDS services we offer, and the data each one asks the EHR to prefetch.

One id per hook (the CDS Hooks Sandbox keys services by id, so sharing an id across
hooks makes the last one win). Prefetch templates use only tokens CDS Hooks 2.0
allows (``{{context.patientId}}``) and valid FHIR R4 search syntax; dates cannot be
templated, so the lookback is applied in the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

LOINC = "http://loinc.org"

#: Pain instruments we read (see service/normalize and docs): NRS, PEG and its items,
#: the generic reported pain severity, Wong-Baker FACES and PROMIS pain intensity.
PAIN_LOINC_CODES: Final = (
    "72514-3",  # Pain severity 0-10 verbal numeric rating [Score] - Reported
    "91147-9",  # PEG mean score
    "75893-8",  # PEG item 1: average pain in the past week
    "91145-3",  # PEG item 2: interference with enjoyment of life
    "91146-1",  # PEG item 3: interference with general activity
    "38208-5",  # Pain severity - Reported
    "38221-8",  # Pain severity Wong-Baker FACES Pain Rating Scale
    "61758-9",  # PROMIS pain interference
    "61743-1",  # PROMIS pain intensity
)

#: Labs that change wording or urgency: eGFR (renal), QTc/QT (methadone safety).
LAB_LOINC_CODES: Final = ("98979-8", "62238-1", "33914-3", "8636-3", "8634-8", "76635-2", "76634-5")


def _codes(codes: tuple[str, ...]) -> str:
    return ",".join(f"{LOINC}|{code}" for code in codes)


P = "{{context.patientId}}"

#: Every prefetch key, with its FHIR query. Keys are stable: EHRs configure them by hand.
PREFETCH_TEMPLATES: Final = MappingProxyType(
    {
        "patient": f"Patient/{P}",
        "medicationRequests": (
            f"MedicationRequest?patient={P}&status=active,completed,stopped,on-hold"
            "&_include=MedicationRequest:medication&_count=500"
        ),
        "medicationDispenses": (
            f"MedicationDispense?patient={P}&_include=MedicationDispense:medication&_count=500"
        ),
        "painObservations": (
            f"Observation?patient={P}&code={_codes(PAIN_LOINC_CODES)}&_sort=-date&_count=500"
        ),
        "labObservations": (
            f"Observation?patient={P}&code={_codes(LAB_LOINC_CODES)}&_sort=-date&_count=100"
        ),
        "conditions": f"Condition?patient={P}&_count=500",
        "encounters": f"Encounter?patient={P}&_sort=-date&_count=200",
        "procedures": f"Procedure?patient={P}&_sort=-date&_count=200",
    }
)

#: Without these the rules could miss an exclusion (cancer, hospice, age) or the very
#: history they judge, so the service answers 412 rather than guess.
REQUIRED_SLOTS: Final = frozenset(
    {"patient", "medicationRequests", "painObservations", "conditions", "encounters"}
)


@dataclass(frozen=True)
class ServiceSpec:
    id: str
    hook: str
    title: str
    description: str
    prefetch: MappingProxyType[str, str] = field(default_factory=lambda: PREFETCH_TEMPLATES)

    @property
    def is_order_hook(self) -> bool:
        return self.hook in ("order-sign", "order-select")


SERVICES: Final = MappingProxyType(
    {
        spec.id: spec
        for spec in (
            ServiceSpec(
                id="oih-order-sign",
                hook="order-sign",
                title="Opioid dose escalation and possible opioid-induced hyperalgesia",
                description=(
                    "When you sign an opioid order, checks whether it raises the patient's total "
                    "daily morphine milligram equivalents (MME) and whether earlier dose increases "
                    "were followed by rising pain, a pattern consistent with possible "
                    "opioid-induced hyperalgesia. Advisory only; it never blocks an order."
                ),
            ),
            ServiceSpec(
                id="oih-order-select",
                hook="order-select",
                title="Opioid dose escalation check while ordering",
                description=(
                    "When you select an opioid order, shows the patient's daily MME with the new "
                    "order and flags escalation without benefit or rising pain after earlier "
                    "increases. Advisory only."
                ),
            ),
            ServiceSpec(
                id="oih-patient-view",
                hook="patient-view",
                title="Opioid dose and pain trend review",
                description=(
                    "When you open the chart of a patient on long-term opioids, reviews the daily "
                    "MME and pain-score trend and flags dose escalation without benefit or a "
                    "pattern consistent with possible opioid-induced hyperalgesia. Advisory only."
                ),
            ),
        )
    }
)
