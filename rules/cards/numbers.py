"""The numbers behind every card, as markdown a clinician can check at a glance."""

from __future__ import annotations

from rules.assessment import Assessment, HookKind
from rules.cards.base import day, mme, points
from rules.derived.pain_change import PainChange
from rules.pain_series import instrument_label


def dose_table(a: Assessment) -> str:
    esc = a.escalation
    rows = [
        "| | MME/day | Period |",
        "|---|---|---|",
        f"| Baseline | {mme(esc.baseline_mme.value)} | "
        f"{day(esc.baseline_window.start)} to {day(esc.baseline_window.end)} |",
    ]
    if a.hook is HookKind.ORDER and a.draft_opioids:
        rows.append(f"| Current (before this order) | {mme(a.mme.current.value)} | today |")
        rows.append(f"| **With this order** | **{mme(a.mme.projected.value)}** | if signed |")
    else:
        rows.append(
            f"| Current | {mme(esc.current_mme.value)} | "
            f"{day(esc.current_window.start)} to {day(esc.current_window.end)} |"
        )
    steps = ", ".join(
        f"{day(s.day)} ({mme(s.before_mme.value)}→{mme(s.after_mme.value)})" for s in esc.steps
    )
    lines = ["**Opioid dose (MME/day)**", "\n".join(rows)]
    if steps:
        lines.append(
            f"Dose increases in the last {a.settings.escalation_window_days} days: {steps}."
        )
    return "\n\n".join(lines)


def pain_table(pain: PainChange) -> str:
    label = instrument_label(pain.instrument)
    rows = [
        f"| {label} pain (0-10) | Median | Scores | Period |",
        "|---|---|---|---|",
        f"| Before | {points(pain.pre_median)} | {pain.pre_count} | "
        f"{day(pain.pre_window.start)} to {day(pain.pre_window.end)} |",
        f"| After | {points(pain.post_median)} | {pain.post_count} | "
        f"{day(pain.post_window.start)} to {day(pain.post_window.end)} |",
    ]
    extra = []
    if pain.theil_sen_rise is not None:
        extra.append(f"Theil-Sen trend over the period: {points(pain.theil_sen_rise)} points")
    if pain.mann_kendall is not None:
        mk = pain.mann_kendall
        extra.append(f"Mann-Kendall S = {mk.s:g}, tau = {mk.tau:.2f} (supporting only)")
    text = "**Pain scores**\n\n" + "\n".join(rows)
    if extra:
        text += "\n\n" + "; ".join(extra) + "."
    return text


def pain_short(pain: PainChange) -> str:
    return f"{points(pain.pre_median)}→{points(pain.post_median)}"


def dose_short(a: Assessment) -> str:
    return f"{mme(a.escalation.baseline_mme.value)}→{mme(a.escalation.current_mme.value)}"
