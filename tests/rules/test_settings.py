"""RuleSettings and CodeLists: shipped values, evidence, overrides and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.settings import (
    RuleSettings,
    SettingsError,
    default_code_lists,
    default_rule_settings,
    load_code_lists,
    load_rule_settings,
    parse_code_lists,
    parse_rule_settings,
)
from rules.timeline import PainInstrument

SPEC_DEFAULTS = {  # clinical-rules.md §6.3 and §6.4
    "lookback_days": 365,
    "ltot_days_per_30": 21,
    "ltot_block_days": 30,
    "ltot_blocks": 3,
    "escalation_window_days": 180,
    "escalation_ratio": 1.20,
    "escalation_abs_floor_mme": 10.0,
    "step_min_ratio": 0.10,
    "step_min_abs_mme": 1.0,
    "step_merge_days": 7,
    "repeated_steps": 2,
    "baseline_window_days": 30,
    "baseline_fallback_start_days": 180,
    "baseline_fallback_end_days": 90,
    "current_window_days": 14,
    "steady_state_lag_days": 14,
    "pre_window_days": 90,
    "min_scores_per_window": 2,
    "min_scores_for_slope": 4,
    "pain_rise_abs": 2.0,
    "pain_rise_rel": 0.30,
    "pain_rise_rel_min_abs": 1.0,
    "no_improvement_threshold": 1.0,
    "mme_reassess": 50.0,
    "mme_high": 90.0,
    "rotation_min_mme": 50.0,
    "snooze_days": 90,
    "recent_taper_ratio": 0.90,
    "recent_taper_days": 30,
    "neuroexcitation_lookback_days": 30,
    "acute_confounder_days": 30,
    "acute_confounder_action": "downgrade",
    "naloxone_lookback_days": 730,
    "adult_age_years": 18,
    "qtc_caution_ms": 450.0,
    "qtc_avoid_above_ms": 500.0,
    "egfr_severe_below": 30.0,
}


def test_shipped_defaults_match_the_spec_table() -> None:
    settings = default_rule_settings()
    for key, value in SPEC_DEFAULTS.items():
        assert getattr(settings, key) == value, key
    assert settings.pain_instrument_preference == (PainInstrument.PEG, PainInstrument.NRS)
    assert set(settings.non_ambulatory_encounter_classes) >= {"EMER", "IMP", "ACUTE", "OBSENC"}
    assert settings.version == "1.2.0"
    assert settings.override_version is None


def test_every_threshold_carries_tier_and_source() -> None:
    settings = default_rule_settings()
    assert set(settings.evidence) == RuleSettings.threshold_keys()
    for key, ev in settings.evidence.items():
        assert ev.tier, key
        assert ev.source, key
        assert not ev.overridden
    assert settings.evidence["escalation_ratio"].tier == "S"
    assert "Hayes" in settings.evidence["escalation_ratio"].source
    assert settings.evidence["mme_reassess"].tier == "G"


def test_settings_are_frozen() -> None:
    settings = default_rule_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.escalation_ratio = 2.0  # type: ignore[misc]


def test_load_without_path_is_the_shipped_defaults() -> None:
    assert load_rule_settings(None) == default_rule_settings()


def test_partial_override_changes_only_the_given_key() -> None:
    settings = parse_rule_settings(
        override="version: site-7\nthresholds:\n  escalation_ratio: 1.5\n"
    )
    assert settings.escalation_ratio == 1.5
    assert settings.override_version == "site-7"
    assert settings.pain_rise_abs == 2.0
    ev = settings.evidence["escalation_ratio"]
    assert ev.overridden
    assert ev.tier == "J"
    assert "1.2" in ev.source
    assert "Hayes" in ev.source
    assert not settings.evidence["pain_rise_abs"].overridden


def test_override_with_its_own_evidence_keeps_it() -> None:
    settings = parse_rule_settings(
        override=(
            "thresholds:\n  mme_high: {value: 120, tier: G, source: 'Washington State rule'}\n"
        )
    )
    assert settings.mme_high == 120.0
    assert settings.evidence["mme_high"].tier == "G"
    assert settings.evidence["mme_high"].source == "Washington State rule"


def test_override_file_from_path(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("thresholds:\n  acute_confounder_action: suppress\n", encoding="utf-8")
    settings = load_rule_settings(path)
    assert settings.acute_confounder_action == "suppress"


def test_override_as_bytes_and_empty_override() -> None:
    assert parse_rule_settings(override=b"thresholds: {pain_rise_abs: 1.5}").pain_rise_abs == 1.5
    assert parse_rule_settings(override="") == default_rule_settings()


def test_unknown_key_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(SettingsError, match=r"site\.yaml: unknown threshold 'escalation_ratoi'"):
        parse_rule_settings(
            override="thresholds: {escalation_ratoi: 1.5}", override_name="site.yaml"
        )
    with pytest.raises(SettingsError, match="did you mean 'escalation_ratio'"):
        parse_rule_settings(override="thresholds: {escalation_ratoi: 1.5}")


def test_unknown_top_level_key_is_rejected() -> None:
    with pytest.raises(SettingsError, match="unknown top-level keys"):
        parse_rule_settings(override="treshholds: {pain_rise_abs: 1}")


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "thresholds: {escalation_ratio: '1.5'}",
            "escalation_ratio: Input should be a valid number",
        ),
        ("thresholds: {lookback_days: 365.5}", "lookback_days: Input should be a valid integer"),
        ("thresholds: {lookback_days: true}", "lookback_days: Input should be a valid integer"),
        ("thresholds: {use_hospice_findings: 'yes'}", "use_hospice_findings"),
        ("thresholds: {acute_confounder_action: hide}", "acute_confounder_action"),
        ("thresholds: {pain_instrument_preference: [peg, vas]}", "pain_instrument_preference"),
        ("thresholds: {recent_taper_ratio: 1.5}", "recent_taper_ratio"),
        ("thresholds: {lookback_days: -1}", "lookback_days"),
    ],
)
def test_wrong_type_or_value_is_rejected(yaml_text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_rule_settings(override=yaml_text)


def test_override_with_bad_tier_is_rejected() -> None:
    with pytest.raises(SettingsError, match="evidence tier"):
        parse_rule_settings(
            override="thresholds: {mme_high: {value: 120, tier: X, source: 'local'}}"
        )


def test_override_with_tier_but_no_source_is_rejected() -> None:
    with pytest.raises(SettingsError, match="give both tier and source"):
        parse_rule_settings(override="thresholds: {mme_high: {value: 120, tier: G}}")


def test_cross_field_consistency_is_checked() -> None:
    with pytest.raises(SettingsError, match="mme_high must be >= mme_reassess"):
        parse_rule_settings(override="thresholds: {mme_high: 40}")


def test_invalid_yaml_is_rejected() -> None:
    with pytest.raises(SettingsError, match="not valid YAML"):
        parse_rule_settings(override="thresholds: {a: [")


def test_defaults_entry_without_evidence_is_rejected() -> None:
    with pytest.raises(SettingsError, match="must have exactly value, tier and source"):
        parse_rule_settings(defaults="version: '1'\nthresholds:\n  lookback_days: {value: 365}\n")


def test_defaults_missing_a_threshold_are_rejected() -> None:
    text = "version: '1'\nthresholds:\n  lookback_days: {value: 365, tier: J, source: 'x'}\n"
    with pytest.raises(SettingsError, match="Field required"):
        parse_rule_settings(defaults=text)


def test_missing_override_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_rule_settings(tmp_path / "nope.yaml")


def test_with_overrides_revalidates() -> None:
    base = default_rule_settings()
    assert base.with_overrides(escalation_ratio=1.1).escalation_ratio == 1.1
    with pytest.raises(SettingsError):
        base.with_overrides(escalation_ratio="high")


def test_shipped_code_lists_load() -> None:
    codes = default_code_lists()
    assert codes.concept("sickle_cell").prefixes["icd10"] == ("D57",)
    assert "C00-C96" in codes.concept("malignant_cancer").prefixes["icd10"]
    assert codes.pain_codes.peg_mean == "91147-9"
    assert load_code_lists(None) is codes


def test_code_lists_reject_missing_concepts_and_bad_ranges() -> None:
    with pytest.raises(SettingsError, match="missing concepts"):
        parse_code_lists(
            "version: '1'\nvalue_set_base: x\nsystems: {}\nconcepts: {}\n"
            "lab_codes: {egfr: [], qtc: []}\n"
            "pain_codes: {peg_mean: a, peg_item1: b, interference: []}\n"
        )
    with pytest.raises(SettingsError, match="bad prefix range"):
        parse_code_lists(
            "version: '1'\nvalue_set_base: x\nsystems: {icd10: [u]}\n"
            "concepts: {x: {description: d, tier: J, source: s, prefixes: {icd10: ['C9-C100']}}}\n"
            "lab_codes: {egfr: [], qtc: []}\n"
            "pain_codes: {peg_mean: a, peg_item1: b, interference: []}\n"
        )
