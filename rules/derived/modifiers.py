"""§6.8: risk modifiers that change card wording and urgency (never whether OIH is judged).

Neuro-excitation in the last 30 days (myoclonus, seizure, delirium) raises card A to
critical: myoclonus is a herald sign of opioid neurotoxicity, with hyperalgesia,
delirium and seizures following [R15, R46]. Renal and hepatic impairment change the
text (metabolite accumulation) [R45, R36]; OUD replaces the OIH framing with Rec 12;
overdose history, sleep-disordered breathing, benzodiazepines and ≥50 MME/day call for
naloxone (CDC Rec 8, 11) [R1, R2]; QTc bands gate methadone wording [R34].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from rules.derived.codematch import ValueSets, concept_matcher
from rules.derived.common import DateWindow, RecordFinding, at_least, fmt_mme
from rules.derived.exclusions import matching_conditions
from rules.settings import CodeLists, RuleSettings, default_code_lists
from rules.timeline import LabResult, MedicationOrder, OrderSource, PatientTimeline

__all__ = [
    "DoseBand",
    "ModifierKind",
    "QtcStatus",
    "RiskModifier",
    "RiskModifiers",
    "assess_qtc",
    "concurrent_benzodiazepine",
    "detect_risk_modifiers",
    "dose_band",
    "latest_lab",
    "naloxone_on_file",
    "renal_impairment",
]


class ModifierKind(StrEnum):
    NEUROEXCITATION = "neuroexcitation"
    RENAL_IMPAIRMENT = "renal_impairment"
    HEPATIC_IMPAIRMENT = "hepatic_impairment"
    OPIOID_USE_DISORDER = "opioid_use_disorder"
    OVERDOSE_HISTORY = "overdose_history"
    SLEEP_DISORDERED_BREATHING = "sleep_disordered_breathing"
    MENTAL_HEALTH_RISK = "mental_health_risk"
    BENZODIAZEPINE = "benzodiazepine"
    NALOXONE_ON_FILE = "naloxone_on_file"


@dataclass(frozen=True, slots=True)
class RiskModifier:
    """One modifier: ``present`` with the supporting records and a one-sentence reason."""

    kind: ModifierKind
    present: bool
    findings: tuple[RecordFinding, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class QtcStatus:
    """Latest QTc within the lab lookback and its methadone band (§3.3, §3.4)."""

    band: Literal["avoid_methadone", "caution", "normal", "unknown"]
    value_ms: float | None
    day: date | None
    reference: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class DoseBand:
    """Where an MME/day figure sits against ``mme_reassess`` (50) and ``mme_high`` (90)."""

    band: Literal["below_reassess", "reassess", "high"]
    mme: float
    reason: str


@dataclass(frozen=True, slots=True)
class RiskModifiers:
    """The condition- and lab-based modifiers of §6.8 for one patient."""

    neuroexcitation: RiskModifier
    renal_impairment: RiskModifier
    hepatic_impairment: RiskModifier
    opioid_use_disorder: RiskModifier
    overdose_history: RiskModifier
    sleep_disordered_breathing: RiskModifier
    mental_health_risk: RiskModifier
    qtc: QtcStatus
    missing_value_sets: tuple[str, ...]

    def present(self) -> tuple[RiskModifier, ...]:
        """The modifiers found, in declaration order."""
        mods = (
            self.neuroexcitation,
            self.renal_impairment,
            self.hepatic_impairment,
            self.opioid_use_disorder,
            self.overdose_history,
            self.sleep_disordered_breathing,
            self.mental_health_risk,
        )
        return tuple(m for m in mods if m.present)


def _modifier(
    kind: ModifierKind, found: list[RecordFinding], what: str, none_reason: str
) -> RiskModifier:
    if found:
        listed = "; ".join(f.description for f in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        return RiskModifier(kind, True, tuple(found), f"{what}: {listed}{more}.")
    return RiskModifier(kind, False, (), none_reason)


def latest_lab(
    labs: Iterable[LabResult], codes: Iterable[str], as_of: date, lookback_days: int
) -> LabResult | None:
    """The most recent result with one of ``codes`` dated within the lookback (not after as_of)."""
    wanted = frozenset(codes)
    window = DateWindow.within(as_of, lookback_days)
    found = [lab for lab in labs if lab.code in wanted and lab.day in window]
    return max(found, key=lambda lab: lab.day, default=None)


def renal_impairment(
    timeline: PatientTimeline,
    settings: RuleSettings,
    value_sets: ValueSets | None = None,
    codes: CodeLists | None = None,
) -> RiskModifier:
    """Latest eGFR < ``egfr_severe_below`` (30), or an active CKD 4–5/dialysis condition."""
    lists = codes or default_code_lists()
    kind = ModifierKind.RENAL_IMPAIRMENT
    found: list[RecordFinding] = []
    egfr = latest_lab(
        timeline.labs, lists.lab_codes.egfr, timeline.as_of, settings.lab_lookback_days
    )
    limit = settings.egfr_severe_below
    if egfr is not None and egfr.value < limit:
        found.append(
            RecordFinding(
                kind.value,
                f"eGFR {egfr.value:g} on {egfr.day} (below {limit:g})",
                egfr.day,
                egfr.reference,
            )
        )
    found += matching_conditions(
        timeline.conditions,
        concept_matcher("renal_impairment", value_sets, codes),
        kind.value,
        active_only=True,
    )
    egfr_txt = f"latest eGFR {egfr.value:g} on {egfr.day}" if egfr else "no recent eGFR"
    return _modifier(
        kind,
        found,
        "Severe renal impairment (metabolites of morphine, codeine and hydromorphone accumulate)",
        f"No severe renal impairment recorded ({egfr_txt}; CKD 4–5 or dialysis not coded).",
    )


def assess_qtc(
    labs: Iterable[LabResult], as_of: date, settings: RuleSettings, codes: CodeLists | None = None
) -> QtcStatus:
    """QTc >500 ms: avoid methadone; 450–500 ms: consider alternatives (APS–CPDD–HRS) [R34]."""
    lists = codes or default_code_lists()
    qtc = latest_lab(labs, lists.lab_codes.qtc, as_of, settings.lab_lookback_days)
    if qtc is None:
        return QtcStatus(
            "unknown",
            None,
            None,
            None,
            f"No QTc recorded in the last {settings.lab_lookback_days} days.",
        )
    shown = f"QTc {qtc.value:g} ms on {qtc.day}"
    if qtc.value > settings.qtc_avoid_above_ms:
        return QtcStatus(
            "avoid_methadone",
            qtc.value,
            qtc.day,
            qtc.reference,
            f"{shown}: above {settings.qtc_avoid_above_ms:g} ms, methadone not recommended.",
        )
    if at_least(qtc.value, settings.qtc_caution_ms):
        return QtcStatus(
            "caution",
            qtc.value,
            qtc.day,
            qtc.reference,
            f"{shown}: {settings.qtc_caution_ms:g}–{settings.qtc_avoid_above_ms:g}"
            " ms, consider alternatives to methadone and correct reversible causes.",
        )
    return QtcStatus(
        "normal",
        qtc.value,
        qtc.day,
        qtc.reference,
        f"{shown}: below {settings.qtc_caution_ms:g} ms.",
    )


def dose_band(mme: float, settings: RuleSettings) -> DoseBand:
    """≥50: pause, reassess, naloxone; ≥90: high-dose wording (CDC 2022/2016) [R2, R4]."""
    shown = fmt_mme(mme)
    if at_least(mme, settings.mme_high):
        return DoseBand(
            "high",
            mme,
            f"{shown} is at or above the high-dose threshold of {settings.mme_high:g} MME/day.",
        )
    if at_least(mme, settings.mme_reassess):
        return DoseBand(
            "reassess",
            mme,
            f"{shown} is at or above {settings.mme_reassess:g} "
            "MME/day: pause and reassess before any increase; offer naloxone.",
        )
    return DoseBand("below_reassess", mme, f"{shown} is below {settings.mme_reassess:g} MME/day.")


_ORDER_NOT_TAKEN = frozenset({"entered-in-error", "cancelled", "draft"})


def _coverage_end(order: MedicationOrder, start: date, as_of: date) -> date:
    """The last day an order or dispense starting on ``start`` plausibly covers."""
    if order.end is not None:
        end = order.end
    elif order.supply_days:
        end = start + timedelta(days=max(0, round(order.supply_days) - 1))
    elif (order.status or "").lower() == "active" or order.source is OrderSource.DRAFT:
        end = max(as_of, start)
    else:
        end = start
    return max(end, start)


def _coverage(order: MedicationOrder, as_of: date) -> DateWindow | None:
    """The days an order or dispense plausibly covers; None when it has no start."""
    if order.start is None:
        return None
    return DateWindow(order.start, _coverage_end(order, order.start, as_of))


def _orders_in(
    orders: Iterable[MedicationOrder],
    concept: str,
    window: DateWindow,
    as_of: date,
    value_sets: ValueSets | None,
    codes: CodeLists | None,
) -> tuple[list[RecordFinding], tuple[str, ...]]:
    matcher = concept_matcher(concept, value_sets, codes)
    found = []
    for order in orders:
        # The code first: it is one memoised lookup, and most orders are other drugs.
        hit = matcher.first_match(order.codes)
        if hit is None:
            continue
        if (
            order.source is not OrderSource.DRAFT
            and (order.status or "").lower() in _ORDER_NOT_TAKEN
        ):
            continue
        start = order.start
        # window.overlaps(*_coverage(order, as_of)), without building the window
        if start is None or start > window.end:
            continue
        if _coverage_end(order, start, as_of) < window.start:
            continue
        name = order.text or hit.display or hit.code
        src = "draft order" if order.source is OrderSource.DRAFT else order.source.value
        found.append(
            RecordFinding(
                concept, f"{name} ({src} from {order.start})", order.start, order.reference, hit
            )
        )
    return found, matcher.missing_value_sets


def naloxone_on_file(
    timeline: PatientTimeline,
    settings: RuleSettings,
    value_sets: ValueSets | None = None,
    codes: CodeLists | None = None,
) -> RiskModifier:
    """Naloxone ordered or dispensed within ``naloxone_lookback_days`` (CQF: 2 years) [R6].

    Draft orders count: a clinician ordering naloxone now needs no naloxone prompt.
    """
    window = DateWindow.within(timeline.as_of, settings.naloxone_lookback_days)
    found, missing = _orders_in(
        timeline.orders + timeline.drafts, "naloxone", window, timeline.as_of, value_sets, codes
    )
    gap = " (naloxone value set not supplied)" if missing else ""
    return _modifier(
        ModifierKind.NALOXONE_ON_FILE,
        found,
        "Naloxone on file",
        f"No naloxone order or dispense in the last {settings.naloxone_lookback_days} days{gap}.",
    )


def concurrent_benzodiazepine(
    timeline: PatientTimeline,
    settings: RuleSettings,
    value_sets: ValueSets | None = None,
    codes: CodeLists | None = None,
) -> RiskModifier:
    """A benzodiazepine covering any day of the last ``benzodiazepine_lookback_days``
    (or drafted now): CDC Rec 11 caution and naloxone [R1]."""
    window = DateWindow.within(timeline.as_of, settings.benzodiazepine_lookback_days)
    found, missing = _orders_in(
        timeline.orders + timeline.drafts,
        "benzodiazepine",
        window,
        timeline.as_of,
        value_sets,
        codes,
    )
    gap = " (benzodiazepine value set not supplied)" if missing else ""
    return _modifier(
        ModifierKind.BENZODIAZEPINE,
        found,
        "Concurrent benzodiazepine (use particular caution with opioids)",
        f"No benzodiazepine in the last {settings.benzodiazepine_lookback_days} days{gap}.",
    )


def detect_risk_modifiers(
    timeline: PatientTimeline,
    settings: RuleSettings,
    *,
    value_sets: ValueSets | None = None,
    codes: CodeLists | None = None,
) -> RiskModifiers:
    """The condition- and lab-based §6.8 modifiers (medication ones are separate calls)."""
    conds = timeline.conditions
    as_of = timeline.as_of

    def cond(
        concept: str,
        *,
        active_only: bool,
        window: DateWindow | None = None,
    ) -> tuple[list[RecordFinding], tuple[str, ...]]:
        matcher = concept_matcher(concept, value_sets, codes)
        found = matching_conditions(
            conds, matcher, concept, active_only=active_only, window=window, undated_counts=False
        )
        return found, matcher.missing_value_sets

    neuro_days = settings.neuroexcitation_lookback_days
    neuro, _ = cond(
        "neuroexcitation", active_only=False, window=DateWindow.within(as_of, neuro_days)
    )
    hepatic, _ = cond("hepatic_impairment", active_only=True)
    oud, oud_missing = cond("opioid_use_disorder", active_only=False)
    overdose, _ = cond("opioid_overdose", active_only=False)
    sdb, sdb_missing = cond("sleep_disordered_breathing", active_only=True)
    mental, _ = cond("mental_health_risk", active_only=True)
    return RiskModifiers(
        neuroexcitation=_modifier(
            ModifierKind.NEUROEXCITATION,
            neuro,
            f"Possible opioid neurotoxicity in the last {neuro_days} days (urgent review)",
            f"No myoclonus, seizure or delirium coded in the last {neuro_days} days.",
        ),
        renal_impairment=renal_impairment(timeline, settings, value_sets, codes),
        hepatic_impairment=_modifier(
            ModifierKind.HEPATIC_IMPAIRMENT,
            hepatic,
            "Hepatic impairment (accumulation risk with all opioids)",
            "No cirrhosis or hepatic failure coded.",
        ),
        opioid_use_disorder=_modifier(
            ModifierKind.OPIOID_USE_DISORDER,
            oud,
            "Opioid use disorder recorded (offer or arrange MOUD, CDC Rec 12)",
            "No opioid use disorder coded.",
        ),
        overdose_history=_modifier(
            ModifierKind.OVERDOSE_HISTORY,
            overdose,
            "History of opioid overdose",
            "No opioid overdose (poisoning) coded.",
        ),
        sleep_disordered_breathing=_modifier(
            ModifierKind.SLEEP_DISORDERED_BREATHING,
            sdb,
            "Sleep-disordered breathing",
            "No sleep-disordered breathing coded.",
        ),
        mental_health_risk=_modifier(
            ModifierKind.MENTAL_HEALTH_RISK,
            mental,
            "Depression or suicidality recorded (consider behavioural-health input before "
            "any taper)",
            "No depression or suicidality coded.",
        ),
        qtc=assess_qtc(timeline.labs, as_of, settings, codes),
        missing_value_sets=tuple(dict.fromkeys(oud_missing + sdb_missing)),
    )
