"""The ``evaluation`` object of the explain endpoint: every number behind the cards.

Integration engineers use it to see why a card did or did not fire. It holds resource
references (which the EHR sent) but is never logged.
"""

from __future__ import annotations

from typing import Any

from cds_hooks.prefetch import classify_slot
from rules.assessment import Assessment
from rules.derived.pain_change import PainChange
from rules.mme import OrderExposure
from rules.units import MME_PER_DAY_UNIT
from service.pipeline import HookOutcome


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def build_evaluation(outcome: HookOutcome) -> dict[str, Any]:
    call = outcome.call
    assert call is not None
    evaluation: dict[str, Any] = {"service": call.spec.id, "hook": call.spec.hook}
    if outcome.timeline is not None:
        evaluation["asOf"] = outcome.timeline.as_of.isoformat()
    if outcome.gathered is not None:
        prefetch = call.request.prefetch
        slots = {}
        for key in call.spec.prefetch:
            if key in outcome.gathered.fetched:
                slots[key] = "fetched"
            elif key in outcome.gathered.skipped:
                slots[key] = "unavailable"
            else:
                slots[key] = str(classify_slot(prefetch, key))
        data: dict[str, Any] = {"slots": slots}
        if outcome.gathered.notes:
            data["notes"] = list(outcome.gathered.notes)
        if outcome.gathered.timings:
            data["fetchMs"] = {k: round(v, 1) for k, v in outcome.gathered.timings.items()}
        evaluation["data"] = data
    if outcome.timeline is not None:
        evaluation["dataQuality"] = [
            {"code": g.code, "message": g.message, "reference": g.reference}
            for g in outcome.timeline.gaps
        ]
    a = outcome.assessment
    if a is not None:
        evaluation["mme"] = _mme(a)
        evaluation["pain"] = _pain(a.pain)
        evaluation["derived"] = _derived(a)
    evaluation["rules"] = [
        {"id": d.id, "fired": d.fired, "reason": d.reason} for d in outcome.decisions
    ]
    if outcome.snoozed:
        # Cards hidden by a snooze on this call: what the clinician would otherwise see.
        evaluation["snoozed"] = [
            {"topic": topic, "until": until.isoformat()}
            for topic, until in sorted(outcome.snoozed.items())
        ]
    return evaluation


def _order(exposure: OrderExposure) -> dict[str, Any]:
    m = exposure.mme
    return {
        "reference": m.reference,
        "source": m.source.value,
        "rxnorm": m.rxnorm,
        "ndc": m.ndc,
        "product": m.product_name,
        "ingredient": m.ingredient,
        "dailyDose": (
            {"value": _num(m.daily_dose.value), "unit": m.daily_dose.unit} if m.daily_dose else None
        ),
        "factor": m.factor,
        "factorSource": m.factor_source,
        "mmePerDay": _num(m.mme_per_day.value) if m.mme_per_day else None,
        "status": m.status.value,
        "problem": m.problem,
        "analytic": m.analytic,
        "fromText": m.from_text,
        "start": exposure.start.isoformat() if exposure.start else None,
        "end": exposure.end.isoformat() if exposure.end else None,
        "supersededBy": exposure.superseded_by,
        "ignored": exposure.ignored,
        "notes": list(m.notes + exposure.notes),
    }


def _mme(a: Assessment) -> dict[str, Any]:
    timeline = a.mme
    return {
        "unit": MME_PER_DAY_UNIT,
        "current": _num(a.total_mme),
        "withoutDrafts": _num(timeline.current.value),
        "complete": timeline.complete,
        "historyComplete": timeline.history_complete,
        "orders": [_order(o) for o in timeline.orders],
        "timeline": [
            {"date": day.isoformat(), "mmePerDay": _num(value.value)}
            for day, value in timeline.timeline.items()
        ],
    }


def _pain(pain: PainChange) -> dict[str, Any]:
    series = pain.series
    out: dict[str, Any] = {
        "instrument": pain.instrument.value if pain.instrument else None,
        "selection": series.reason,
        "scores": [
            {"date": p.day.isoformat(), "value": _num(p.value), "n": p.n_scores}
            for p in series.points
        ],
        "anchor": pain.anchor.isoformat(),
        "preWindow": [pain.pre_window.start.isoformat(), pain.pre_window.end.isoformat()],
        "postWindow": [pain.post_window.start.isoformat(), pain.post_window.end.isoformat()],
        "preMedian": _num(pain.pre_median),
        "postMedian": _num(pain.post_median),
        "preCount": pain.pre_count,
        "postCount": pain.post_count,
        "delta": _num(pain.delta),
        "theilSenRise": _num(pain.theil_sen_rise),
        "rising": pain.rising,
        "risingReason": pain.rising_reason,
        "noImprovement": pain.no_improvement,
    }
    if pain.mann_kendall is not None:
        out["mannKendall"] = {
            "s": pain.mann_kendall.s,
            "tau": _num(pain.mann_kendall.tau),
            "pTwoSided": _num(pain.mann_kendall.p_two_sided),
        }
    return out


def _derived(a: Assessment) -> dict[str, Any]:
    esc = a.escalation
    mods = a.modifiers
    present = [
        m.kind.value
        for m in (
            mods.neuroexcitation,
            mods.renal_impairment,
            mods.hepatic_impairment,
            mods.opioid_use_disorder,
            mods.overdose_history,
            mods.sleep_disordered_breathing,
            mods.mental_health_risk,
            a.benzodiazepine,
        )
        if m.present
    ]
    return {
        "exclusions": {
            "excluded": a.exclusions.excluded,
            "pregnant": a.exclusions.pregnant,
            "ageYears": a.exclusions.age_years,
            "reason": a.exclusions.reason,
        },
        "longTermOpioidTherapy": {
            "ltot": a.ltot.ltot,
            "daysPerBlock": [b.opioid_days for b in a.ltot.blocks],
            "reason": a.ltot.reason,
        },
        "escalation": {
            "escalated": esc.escalated,
            "repeated": esc.repeated,
            "anchor": esc.anchor.isoformat(),
            "baselineMme": _num(esc.baseline_mme.value),
            "currentMme": _num(esc.current_mme.value),
            "ratio": _num(esc.ratio),
            "steps": [
                {
                    "date": s.day.isoformat(),
                    "from": _num(s.before_mme.value),
                    "to": _num(s.after_mme.value),
                }
                for s in esc.steps
            ],
            "reason": esc.reason,
        },
        "recentTaper": {"taper": a.taper.recent_taper, "reason": a.taper.reason},
        "failedTaper": {"failed": a.failed_taper.failed, "reason": a.failed_taper.reason},
        "acuteConfounders": {"present": a.acute.present, "reason": a.acute.reason},
        "riskModifiers": present,
        "naloxoneOnFile": a.naloxone.present,
        "qtc": {"band": mods.qtc.band, "reason": mods.qtc.reason},
    }
