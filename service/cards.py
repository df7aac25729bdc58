"""Turn rule findings into CDS Hooks cards, building the FHIR resources suggestions need.

The only module that knows both the clinical findings and the protocol. Suggestions
never raise a dose and never carry a conversion dose: the only medication a card can
create is naloxone; "keep current dose" deletes the escalating draft order by id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from cds_hooks.models import (
    Action,
    Card,
    Coding,
    Indicator,
    Link,
    OverrideReason,
    Source,
    Suggestion,
    new_uuid,
)
from rules.findings import Finding, SuggestionKind, SuggestionSpec
from rules.snooze import SNOOZING_SUGGESTIONS

TOPIC_SYSTEM = "urn:oih-cds:card-topic"
OVERRIDE_SYSTEM = "urn:oih-cds:override-reason"
SOURCE_LABEL = "oih-cds: opioid dose and pain trend (CDC 2022)"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"

IdFactory = Callable[[], str]

PEG_PANEL = "Pain intensity, enjoyment of life, general activity [PEG] panel"
_REFERRAL_CATEGORY = {
    "coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]
}


class CardRenderer:
    """Renders findings for one hook call (patient, user, day) with injectable uuids."""

    def __init__(
        self,
        *,
        patient_id: str,
        user_id: str | None,
        as_of: date,
        id_factory: IdFactory = new_uuid,
    ) -> None:
        self.patient_id = patient_id
        self.user_id = user_id
        self.as_of = as_of
        self.new_id = id_factory
        #: card uuid -> uuid of its snoozing suggestion, for the cards rendered so far
        self.snoozing: dict[str, str] = {}

    def render(self, findings: Sequence[Finding]) -> list[Card]:
        return [self.card(finding) for finding in findings]

    def card(self, finding: Finding) -> Card:
        suggestions = tuple(self.suggestion(spec) for spec in finding.suggestions)
        card = self._card(finding, suggestions)
        for spec, rendered in zip(finding.suggestions, suggestions, strict=True):
            if spec.kind in SNOOZING_SUGGESTIONS:
                self.snoozing[card.uuid] = rendered.uuid
        return card

    def _card(self, finding: Finding, suggestions: tuple[Suggestion, ...]) -> Card:
        return Card(
            uuid=self.new_id(),
            summary=finding.summary,
            detail=finding.detail,
            indicator=Indicator(finding.severity.value),
            source=Source(
                label=SOURCE_LABEL,
                topic=Coding(
                    system=TOPIC_SYSTEM, code=finding.topic, display=finding.topic_display
                ),
            ),
            suggestions=suggestions,
            selectionBehavior="any" if suggestions else None,  # Epic supports only "any"
            overrideReasons=tuple(
                OverrideReason(system=OVERRIDE_SYSTEM, code=r.code, display=r.display)
                for r in finding.override_reasons
            ),
            links=tuple(
                Link(label=link.label, url=link.url, type="absolute") for link in finding.links
            ),
        )

    def suggestion(self, spec: SuggestionSpec) -> Suggestion:
        action = self._action(spec)
        return Suggestion(
            label=spec.label,
            uuid=self.new_id(),
            isRecommended=True if spec.recommended else None,
            actions=(action,) if action else (),
        )

    def _action(self, spec: SuggestionSpec) -> Action | None:
        kind = spec.kind
        if kind is SuggestionKind.KEEP_CURRENT_DOSE and spec.target:
            return Action(
                type="delete",
                description=(
                    "Remove the draft order that raises the dose; current orders stay as they are."
                ),
                resourceId=spec.target,
            )
        if kind is SuggestionKind.ORDER_NALOXONE:
            return Action(
                type="create", description="Order naloxone nasal spray.", resource=self._naloxone()
            )
        if kind is SuggestionKind.ORDER_PEG_REASSESSMENT:
            return Action(
                type="create",
                description="Order a pain and function reassessment (PEG) in 1-4 weeks.",
                resource=self._service_request(
                    code={
                        "coding": [
                            {
                                "system": LOINC,
                                "code": "91148-7",
                                "display": PEG_PANEL,
                            }
                        ],
                        "text": "Pain and function reassessment (PEG)",
                    },
                    occurrence={
                        "start": (self.as_of + timedelta(days=7)).isoformat(),
                        "end": (self.as_of + timedelta(days=28)).isoformat(),
                    },
                ),
            )
        if kind is SuggestionKind.REFER_PAIN_MEDICINE:
            return Action(
                type="create",
                description="Refer to pain medicine.",
                resource=self._service_request(
                    code={
                        "coding": [
                            {
                                "system": SNOMED,
                                "code": "408957008",
                                "display": "Chronic pain control management",
                            }
                        ],
                        "text": "Referral to pain medicine",
                    },
                    category=_REFERRAL_CATEGORY,
                ),
            )
        if kind is SuggestionKind.REFER_ADDICTION_MEDICINE:
            return Action(
                type="create",
                description="Refer to addiction medicine.",
                resource=self._service_request(
                    code={"text": "Referral to addiction medicine"}, category=_REFERRAL_CATEGORY
                ),
            )
        return None  # documentation-only suggestions: accepting them is recorded as feedback

    def _subject(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}"}

    def _requester(self) -> dict[str, str] | None:
        return {"reference": self.user_id} if self.user_id else None

    def _naloxone(self) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "order",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                            "code": "community",
                        }
                    ]
                }
            ],
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": RXNORM,
                        "code": "1725059",
                        "display": "naloxone hydrochloride 40 MG/ML Nasal Spray",
                    }
                ],
                "text": "Naloxone 4 mg nasal spray",
            },
            "subject": self._subject(),
            "authoredOn": self.as_of.isoformat(),
            "dosageInstruction": [
                {"text": "For suspected opioid overdose, use as directed in the product labeling."}
            ],
        }
        requester = self._requester()
        if requester:
            resource["requester"] = requester
        return resource

    def _service_request(
        self,
        *,
        code: dict[str, Any],
        category: dict[str, Any] | None = None,
        occurrence: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "code": code,
            "subject": self._subject(),
            "authoredOn": self.as_of.isoformat(),
        }
        if category:
            resource["category"] = [category]
        if occurrence:
            resource["occurrencePeriod"] = occurrence
        requester = self._requester()
        if requester:
            resource["requester"] = requester
        return resource
