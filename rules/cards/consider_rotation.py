"""Card C: consider rotation to buprenorphine, or methadone through an experienced prescriber.

FDA (2023): if OIH is suspected, carefully decrease the dose or switch opioids. CDC
2022: buprenorphine for patients who cannot taper. *When* card A fires and the total is
at least ``rotation_min_mme`` (or a previous taper did not hold: CDC's "patients who
cannot taper") and the patient is not already on buprenorphine or on other medication
for opioid use disorder (MOUD), *then* show rotation options as information,
with the dose-reduction rule and the plain statement that no conversion dose is
calculated. Never a medication order.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.assessment import Assessment
from rules.cards.base import CardRule, Outcome, build_finding, day, meta, mme, silent, suggestion
from rules.findings import Finding, RuleDecision, Severity, SuggestionKind

MODULE = "consider_rotation"
TOPIC = "consider-rotation"
OIH = "oih-evaluate"


def _safety_flags(a: Assessment) -> list[str]:
    flags: list[str] = []
    qtc = a.modifiers.qtc
    if qtc.band == "avoid_methadone":
        flags.append(
            f"QTc {qtc.value_ms:g} ms on {day(qtc.day)}: methadone **not recommended** "
            "(QTc above 500 ms)."
        )
    elif qtc.band == "caution":
        flags.append(
            f"QTc {qtc.value_ms:g} ms on {day(qtc.day)}: with methadone, consider alternatives "
            "and correct reversible causes (QTc 450-500 ms)."
        )
    else:
        flags.append("No recent QTc on record: obtain an ECG before methadone.")
    if a.benzodiazepine.present:
        flags.append("Benzodiazepine on record: overdose risk with buprenorphine or methadone.")
    if a.modifiers.renal_impairment.present:
        flags.append(
            "Renal impairment: buprenorphine is preferred in CKD; avoid morphine and codeine."
        )
    if a.modifiers.hepatic_impairment.present:
        flags.append(
            "Hepatic impairment: methadone with caution in end-stage disease; "
            "buprenorphine per label."
        )
    if a.modifiers.sleep_disordered_breathing.present:
        flags.append("Sleep-disordered breathing: caution with methadone.")
    if a.modifiers.opioid_use_disorder.present:
        flags.append(
            "Opioid use disorder on record: buprenorphine or methadone as OUD treatment "
            "(CDC Rec 12)."
        )
    return flags


def evaluate(a: Assessment, fired: Mapping[str, Finding]) -> Outcome:
    oih = fired.get(OIH)
    if oih is None:
        return silent(TOPIC, "Shown only with the OIH evaluation card, which did not fire.")
    if a.on_buprenorphine:
        return silent(TOPIC, "Already on buprenorphine.")
    if a.on_moud:
        return silent(
            TOPIC,
            "Already on medication for opioid use disorder (MOUD); changing it is a decision "
            "for the OUD treatment team.",
        )
    total = a.total_mme
    failed_taper = a.failed_taper.failed
    if total < a.settings.rotation_min_mme and not failed_taper:
        return silent(
            TOPIC,
            f"Total {mme(total)} MME/day is below the rotation threshold "
            f"{mme(a.settings.rotation_min_mme)}, and no previous taper failed.",
        )
    texts = meta(MODULE).texts
    severity = Severity.WARNING if oih.severity is Severity.CRITICAL else Severity.INFO
    summary = (
        f"Possible OIH at {mme(total)} MME/day: consider rotation to buprenorphine, or "
        "methadone via an experienced prescriber."
    )
    flags = _safety_flags(a)
    detail = [
        texts["rationale"],
        texts["buprenorphine"],
        texts["methadone"],
        texts["reduction_rule"],
        texts["no_conversion"],
        "**Safety flags in the record**\n\n" + "\n".join(f"- {flag}" for flag in flags),
    ]
    if failed_taper:
        detail.insert(1, f"**{a.failed_taper.reason}** {texts['failed_taper']}")
    finding = build_finding(
        MODULE,
        severity,
        summary,
        detail,
        [
            suggestion(MODULE, SuggestionKind.REFER_PAIN_MEDICINE),
            suggestion(MODULE, SuggestionKind.REFER_ADDICTION_MEDICINE),
        ],
    )
    why = f"The OIH card fired at {mme(total)} MME/day"
    if total < a.settings.rotation_min_mme:
        why += (
            f", below the {mme(a.settings.rotation_min_mme)} MME/day rotation threshold, "
            "after a taper that did not hold"
        )
    return Outcome(RuleDecision(TOPIC, True, why + "."), finding)


RULE = CardRule(TOPIC, MODULE, evaluate)
