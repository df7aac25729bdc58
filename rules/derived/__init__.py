"""Derived quantities of the OIH rules (clinical-rules.md §6.3 D2–D7, §6.6, §6.8).

Each function is pure: it takes the daily MME series (``Mapping[date, float]``, a
missing day = 0 MME/day) and/or parts of :class:`rules.timeline.PatientTimeline`, the
evaluation day ``as_of`` and :class:`rules.settings.RuleSettings`, and returns a frozen
dataclass that carries its numbers and a clinician-readable ``reason``.

Typical order: ``long_term_opioid_therapy`` → ``assess_escalation`` (anchor t0) →
``assess_pain_change(anchor=escalation.anchor)`` → ``assess_acute_confounders(
post_window=pain.post_window)``; ``recent_taper``, ``detect_exclusions`` and
``detect_risk_modifiers`` are independent.

Modules: ``common`` (DateWindow, RecordFinding), ``codematch`` (concept membership),
``ltot`` (D2), ``escalation`` (D3), ``pain_change`` (D5; D4 is ``rules.pain_series``),
``taper`` (D6), ``acute`` (D7), ``exclusions`` (§6.6), ``modifiers`` (§6.8). Import from
the modules: this package imports nothing, so ``rules.pain_series`` can use ``common``
without an import cycle.
"""
