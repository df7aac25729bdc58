"""Snoozes: a clinician's documented judgement that hides a card for a while.

Spec §6.5, card A: accepting "Document: OIH evaluated, not suspected" snoozes the OIH
card for 3 months (``snooze_days``); CQF opioid content snoozes its cards the same way.
Without it, a clinician who has evaluated and documented would see the same card on
every order for this patient: the alert fatigue that gets CDS switched off.

The service remembers snoozes and says which are active today; this module decides what
an active snooze hides. It never hides a **critical** card: neuro-excitation needs a
same-day review whatever was documented before, and the card then says a snooze was
overridden. A card that follows the snoozed one (rotation follows the OIH card) falls
silent with it, because the rules see the snoozed card as not fired.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from rules.findings import Finding, Severity, SuggestionKind

#: Suggestions whose acceptance snoozes the card that offered them.
SNOOZING_SUGGESTIONS: frozenset[SuggestionKind] = frozenset(
    {SuggestionKind.DOCUMENT_OIH_NOT_SUSPECTED}
)


@dataclass(frozen=True)
class Snoozes:
    """What the service knows about snoozes for this patient on this call.

    ``available`` is false when the deployment cannot remember snoozes (no patient-key
    secret, or no store); the cards then do not promise a snooze. ``until`` maps a card
    topic to the last day its snooze is in force; the service passes only active ones.
    """

    available: bool = False
    days: int = 0
    until: Mapping[str, date] = field(default_factory=dict)


NO_SNOOZES = Snoozes()


def snoozing_suggestion(finding: Finding) -> SuggestionKind | None:
    """The suggestion of this card that would snooze it, if it offers one."""
    for spec in finding.suggestions:
        if spec.kind in SNOOZING_SUGGESTIONS:
            return spec.kind
    return None


def hides(finding: Finding, snoozes: Snoozes) -> date | None:
    """The day the snooze that hides this card ends, or None when the card is shown."""
    until = snoozes.until.get(finding.topic)
    if until is None or finding.severity is Severity.CRITICAL:
        return None
    return until


def snoozable(findings: Iterable[Finding]) -> set[str]:
    """Topics among these findings that a snooze could hide or that would promise one.

    The service looks snoozes up only when this is not empty, so a call without such a
    card never waits for the store.
    """
    return {f.topic for f in findings if snoozing_suggestion(f) is not None}


def annotate(finding: Finding, snoozes: Snoozes, texts: Mapping[str, str]) -> Finding:
    """Say what the snoozing suggestion does, and when a critical card overrode a snooze.

    Wording comes from the rule's YAML (``snooze`` and ``snooze_overridden``). The notes
    go before the card's closing footnote (data limits, not validated), which
    ``build_finding`` always puts last.
    """
    kind = snoozing_suggestion(finding)
    if kind is None:
        return finding
    label = next(spec.label for spec in finding.suggestions if spec.kind is kind)
    notes: list[str] = []
    overridden = snoozes.until.get(finding.topic)
    if overridden is not None and finding.severity is Severity.CRITICAL:
        notes.append(texts["snooze_overridden"].format(until=overridden.isoformat()))
    if snoozes.available and snoozes.days > 0:
        notes.append(texts["snooze"].format(label=label, days=snoozes.days))
    if not notes:
        return finding
    body, sep, footer = finding.detail.rpartition("\n\n")
    if not sep:
        return replace(finding, detail="\n\n".join([finding.detail, *notes]))
    return replace(finding, detail="\n\n".join([body, *notes, footer]))
