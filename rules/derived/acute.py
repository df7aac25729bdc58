"""D7: acute events that may explain a pain rise (J).

A surgical procedure, an injury (ICD-10 S/T injury codes) or an ED/inpatient stay from
30 days before the post window to its end makes ``present`` true: the pain rise may be
a new acute problem rather than the chronic course, so card A is downgraded to info or
suppressed (``settings.acute_confounder_action``) (spec §6.3 D7).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from rules.derived.codematch import ValueSets, concept_matcher
from rules.derived.common import (
    DateWindow,
    RecordFinding,
    condition_day,
    describe_code,
    is_refuted,
)
from rules.settings import CodeLists, RuleSettings
from rules.timeline import ConditionFact, EncounterFact, ProcedureFact

__all__ = [
    "NOT_DONE_STATUSES",
    "AcuteConfounders",
    "acute_confounder_window",
    "assess_acute_confounders",
]

NOT_DONE_STATUSES = frozenset({"not-done", "entered-in-error", "revoked", "draft", "cancelled"})
_ENCOUNTER_NOT_HELD = frozenset({"cancelled", "entered-in-error", "planned"})


@dataclass(frozen=True, slots=True)
class AcuteConfounders:
    """``present`` with the events found (kinds ``surgery``, ``injury``,
    ``emergency_or_inpatient``), the window searched and the configured action."""

    present: bool
    window: DateWindow
    events: tuple[RecordFinding, ...]
    action: Literal["downgrade", "suppress"]
    missing_value_sets: tuple[str, ...]
    reason: str


def acute_confounder_window(post_window: DateWindow, settings: RuleSettings) -> DateWindow:
    """From ``acute_confounder_days`` before the post window's start to its end."""
    start = post_window.start - timedelta(days=settings.acute_confounder_days)
    return DateWindow(start, max(post_window.end, start))


def assess_acute_confounders(
    *,
    conditions: Iterable[ConditionFact],
    encounters: Iterable[EncounterFact],
    procedures: Iterable[ProcedureFact],
    post_window: DateWindow,
    settings: RuleSettings,
    value_sets: ValueSets | None = None,
    codes: CodeLists | None = None,
) -> AcuteConfounders:
    """Look for surgery, injury and ED/inpatient stays around the post window.

    ``post_window`` is :attr:`rules.derived.pain_change.PainChange.post_window`.
    Undated records cannot be placed in time and are not counted.
    """
    window = acute_confounder_window(post_window, settings)
    surgery = concept_matcher("surgical_procedure", value_sets, codes)
    injury = concept_matcher("injury", value_sets, codes)
    acute_classes = frozenset(settings.non_ambulatory_encounter_classes)
    events: list[RecordFinding] = []
    for proc in procedures:
        if proc.day is None or proc.day not in window:
            continue
        if (proc.status or "").lower() in NOT_DONE_STATUSES:
            continue
        hit = surgery.first_match(proc.codes)
        if hit is not None:
            events.append(
                RecordFinding(
                    "surgery",
                    f"surgery: {describe_code(hit)} on {proc.day}",
                    proc.day,
                    proc.reference,
                    hit,
                )
            )
    for cond in conditions:
        day = condition_day(cond)
        if day is None or day not in window or is_refuted(cond):
            continue
        hit = injury.first_match(cond.codes)
        if hit is not None:
            events.append(
                RecordFinding(
                    "injury", f"injury: {describe_code(hit)} on {day}", day, cond.reference, hit
                )
            )
    for enc in encounters:
        cls = (enc.class_code or "").strip().upper()
        if cls not in acute_classes or enc.start is None:
            continue
        if (enc.status or "").lower() in _ENCOUNTER_NOT_HELD:
            continue
        if window.overlaps(enc.start, enc.end):
            kind = "emergency visit" if cls == "EMER" else f"hospital stay ({cls})"
            events.append(
                RecordFinding(
                    "emergency_or_inpatient", f"{kind} from {enc.start}", enc.start, enc.reference
                )
            )
    events.sort(key=lambda e: (e.day or date.min, e.kind))
    missing = surgery.missing_value_sets
    if events:
        listed = "; ".join(e.description for e in events)
        reason = (
            f"Possible acute cause of the pain rise: {listed} (searched {window}, "
            f"{settings.acute_confounder_days} days before and during the post-escalation "
            "pain window)."
        )
    else:
        reason = f"No surgery, injury or ED/inpatient stay recorded from {window}."
    return AcuteConfounders(
        bool(events), window, tuple(events), settings.acute_confounder_action, missing, reason
    )
