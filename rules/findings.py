"""What a rule decides: a finding (the domain result behind a card) and its decision.

A :class:`Finding` is not a CDS Hooks card: it carries the clinical content (indicator,
summary, markdown detail, the kinds of suggestion that are safe to offer, links and
override reasons). ``service.cards`` turns it into a protocol card and builds any FHIR
resources a suggestion needs, so the rules never touch FHIR.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class SuggestionKind(StrEnum):
    """Suggestions a card may offer. None of them raises a dose or holds a conversion dose."""

    KEEP_CURRENT_DOSE = "keep-current-dose"  # remove the escalating draft order
    PROCEED_DOCUMENTED = "proceed-documented"  # document: benefits outweigh risks
    DOCUMENT_OIH_NOT_SUSPECTED = "document-oih-not-suspected"
    ORDER_PEG_REASSESSMENT = "order-peg-reassessment"  # pain/function follow-up in 1-4 weeks
    REFER_PAIN_MEDICINE = "refer-pain-medicine"
    REFER_ADDICTION_MEDICINE = "refer-addiction-medicine"
    ORDER_NALOXONE = "order-naloxone"


@dataclass(frozen=True, slots=True)
class SuggestionSpec:
    kind: SuggestionKind
    label: str
    target: str | None = None  # e.g. the draft order reference a suggestion acts on
    recommended: bool = False


@dataclass(frozen=True, slots=True)
class LinkSpec:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class OverrideReasonSpec:
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class Finding:
    topic: str  # stable code per card type, e.g. "oih-evaluate"
    topic_display: str
    severity: Severity
    summary: str
    detail: str
    suggestions: tuple[SuggestionSpec, ...] = ()
    links: tuple[LinkSpec, ...] = ()
    override_reasons: tuple[OverrideReasonSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleDecision:
    """Whether a rule fired, and one sentence saying why or why not."""

    id: str
    fired: bool
    reason: str
