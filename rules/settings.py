"""Thresholds and code lists of the OIH rules, loaded from versioned YAML.

Every threshold of clinical-rules.md §6.4 (and the few §6.6/§6.8 numbers) lives in
``rules/data/thresholds.yaml`` with its evidence tier (G/S/E/J) and source, because the
spec is "not clinically validated" and a site must be able to see, and change, what
each number rests on. A deployment override file may change any subset; unknown keys
and wrong types are refused with a message naming the file and the key, because a
silently ignored typo in a clinical threshold is worse than a failed start-up.

Code lists that value-set expansions cannot carry (ICD-10 prefix ranges such as
C00–C96, CPT ranges) live in ``rules/data/codes.yaml`` and are loaded the same way.

Nothing here reads the environment: callers pass a path, text or bytes.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from rules.timeline import PainInstrument

__all__ = [
    "CodeLists",
    "ConceptCodes",
    "LabCodes",
    "PainCodes",
    "RuleSettings",
    "SettingsError",
    "ThresholdEvidence",
    "default_code_lists",
    "default_rule_settings",
    "load_code_lists",
    "load_rule_settings",
    "parse_code_lists",
    "parse_rule_settings",
]

_TIER_RE = re.compile(r"^[GSEJ](/[GSEJ])*$")
_META_FIELDS = frozenset({"version", "override_version", "evidence"})

Text = str | bytes


class SettingsError(ValueError):
    """A thresholds or codes file that cannot be used; the message says where and why."""


def _check_tier(value: str) -> str:
    if not _TIER_RE.match(value):
        raise ValueError(
            f"evidence tier must be G, S, E or J (or a mix such as 'S/J'), got {value!r}"
        )
    return value


class ThresholdEvidence(BaseModel):
    """Why a threshold has its value: evidence tier and source, as in the spec."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    tier: str
    source: str = Field(min_length=1)
    overridden: bool = False

    @field_validator("tier")
    @classmethod
    def _tier_is_known(cls, value: str) -> str:
        return _check_tier(value)


PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class RuleSettings(BaseModel):
    """Every configurable threshold of the OIH rules (clinical-rules.md §6.4).

    There are no Python defaults on purpose: ``thresholds.yaml`` is the one source of
    the shipped values, so use :func:`default_rule_settings` or :func:`load_rule_settings`.
    ``evidence`` has one entry per threshold. Windows are in days, doses in MME/day,
    pain in points on a 0–10 scale.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    version: str = Field(min_length=1)
    override_version: str | None = None
    evidence: dict[str, ThresholdEvidence]

    lookback_days: PositiveInt
    # D2
    ltot_days_per_30: PositiveInt
    ltot_block_days: PositiveInt
    ltot_blocks: PositiveInt
    # D3
    escalation_window_days: PositiveInt
    escalation_ratio: Annotated[float, Field(gt=1)]
    escalation_abs_floor_mme: NonNegFloat
    step_min_ratio: Fraction
    step_min_abs_mme: NonNegFloat
    step_prior_days: PositiveInt
    step_prior_statistic: Literal["median", "mean"]
    step_merge_days: PositiveInt
    step_sustain_days: PositiveInt
    repeated_steps: PositiveInt
    baseline_window_days: PositiveInt
    baseline_fallback_start_days: PositiveInt
    baseline_fallback_end_days: PositiveInt
    current_window_days: PositiveInt
    # D4/D5
    steady_state_lag_days: NonNegInt
    pre_window_days: PositiveInt
    min_scores_per_window: PositiveInt
    min_scores_for_slope: Annotated[int, Field(ge=2)]
    pain_rise_abs: PositiveFloat
    pain_rise_rel: PositiveFloat
    pain_rise_rel_min_abs: NonNegFloat
    no_improvement_threshold: NonNegFloat
    theil_sen_max_points: Annotated[int, Field(ge=2)]
    non_ambulatory_encounter_classes: Annotated[tuple[str, ...], Field(strict=False)]
    pain_instrument_preference: Annotated[
        tuple[Annotated[PainInstrument, Strict(False)], ...], Field(strict=False, min_length=1)
    ]
    # doses
    mme_reassess: PositiveFloat
    mme_high: PositiveFloat
    rotation_min_mme: PositiveFloat
    snooze_days: PositiveInt
    # D6
    recent_taper_ratio: Fraction
    recent_taper_days: PositiveInt
    failed_taper_min_days: PositiveInt
    # D7
    acute_confounder_days: NonNegInt
    acute_confounder_action: Literal["downgrade", "suppress"]
    # §6.6
    adult_age_years: PositiveInt
    cancer_lookback_days: PositiveInt
    cancer_min_encounters: PositiveInt
    end_of_life_lookback_days: PositiveInt
    pregnancy_lookback_days: PositiveInt
    use_hospice_findings: bool
    # §6.8
    neuroexcitation_lookback_days: PositiveInt
    egfr_severe_below: PositiveFloat
    lab_lookback_days: PositiveInt
    qtc_caution_ms: PositiveFloat
    qtc_avoid_above_ms: PositiveFloat
    naloxone_lookback_days: PositiveInt
    benzodiazepine_lookback_days: PositiveInt

    @classmethod
    def threshold_keys(cls) -> frozenset[str]:
        """Names of the thresholds (every field except version and evidence)."""
        return frozenset(cls.model_fields) - _META_FIELDS

    @field_validator("non_ambulatory_encounter_classes")
    @classmethod
    def _upper_classes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(code.strip().upper() for code in value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        keys = self.threshold_keys()
        missing = sorted(keys - set(self.evidence))
        extra = sorted(set(self.evidence) - keys)
        if missing:
            problems.append(f"no evidence (tier/source) for: {', '.join(missing)}")
        if extra:
            problems.append(f"evidence for unknown thresholds: {', '.join(extra)}")
        if self.baseline_fallback_start_days <= self.baseline_fallback_end_days:
            problems.append("baseline_fallback_start_days must be > baseline_fallback_end_days")
        if self.mme_high < self.mme_reassess:
            problems.append("mme_high must be >= mme_reassess")
        if self.qtc_avoid_above_ms < self.qtc_caution_ms:
            problems.append("qtc_avoid_above_ms must be >= qtc_caution_ms")
        if self.ltot_days_per_30 > self.ltot_block_days:
            problems.append("ltot_days_per_30 cannot exceed ltot_block_days")
        if self.min_scores_for_slope < self.min_scores_per_window:
            problems.append("min_scores_for_slope must be >= min_scores_per_window")
        if len(set(self.pain_instrument_preference)) != len(self.pain_instrument_preference):
            problems.append("pain_instrument_preference lists an instrument twice")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def threshold_values(self) -> dict[str, Any]:
        """The thresholds alone, as plain values (for explain output and overrides)."""
        return {key: getattr(self, key) for key in sorted(self.threshold_keys())}

    def with_overrides(self, source: str = "overrides", **values: Any) -> RuleSettings:
        """A validated copy with some thresholds changed (what-if analyses, tests)."""
        return _apply_override(self, {"thresholds": values}, source)


# --------------------------------------------------------------------------- loading


def _read_yaml(text: Text, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source}: not valid YAML: {exc}") from exc


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        shown = f" (got {err['input']!r})" if err["type"] != "missing" and err["loc"] else ""
        lines.append(f"{source}: {loc}: {err['msg']}{shown}")
    return "\n".join(lines)


def _unknown_key_message(key: str, known: frozenset[str], source: str) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{source}: unknown threshold {key!r}{hint}"


def _expect_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SettingsError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _parse_defaults(text: Text, source: str) -> RuleSettings:
    doc = _expect_mapping(_read_yaml(text, source), f"{source}: the document")
    unknown_top = set(doc) - {"version", "thresholds"}
    if unknown_top:
        raise SettingsError(f"{source}: unknown top-level keys {sorted(unknown_top)}")
    if not isinstance(doc.get("version"), str):
        raise SettingsError(f"{source}: 'version' must be a string, e.g. version: \"1.0.0\"")
    thresholds = _expect_mapping(doc.get("thresholds"), f"{source}: 'thresholds'")
    known = RuleSettings.threshold_keys()
    values: dict[str, Any] = {}
    evidence: dict[str, Any] = {}
    for key, entry in thresholds.items():
        if key not in known:
            raise SettingsError(_unknown_key_message(str(key), known, source))
        entry_map = _expect_mapping(entry, f"{source}: thresholds.{key}")
        extra = set(entry_map) - {"value", "tier", "source"}
        if extra or not {"value", "tier", "source"} <= set(entry_map):
            raise SettingsError(
                f"{source}: thresholds.{key} must have exactly value, tier and source"
            )
        values[key] = entry_map["value"]
        evidence[key] = {"tier": entry_map["tier"], "source": entry_map["source"]}
    return _validate(values, evidence, doc["version"], None, source)


def _validate(
    values: Mapping[str, Any],
    evidence: Mapping[str, Any],
    version: str,
    override_version: str | None,
    source: str,
) -> RuleSettings:
    try:
        ev = {k: ThresholdEvidence.model_validate(v) for k, v in evidence.items()}
    except ValidationError as exc:
        raise SettingsError(_format_validation_error(exc, f"{source} (evidence)")) from exc
    try:
        return RuleSettings.model_validate(
            {**values, "version": version, "override_version": override_version, "evidence": ev}
        )
    except ValidationError as exc:
        raise SettingsError(_format_validation_error(exc, source)) from exc


def _apply_override(base: RuleSettings, doc: Any, source: str) -> RuleSettings:
    if doc is None:  # an empty override file changes nothing
        return base
    doc = _expect_mapping(doc, f"{source}: the document")
    unknown_top = set(doc) - {"version", "thresholds"}
    if unknown_top:
        raise SettingsError(
            f"{source}: unknown top-level keys {sorted(unknown_top)}; "
            "expected 'version' and 'thresholds'"
        )
    version = doc.get("version")
    if version is not None and not isinstance(version, str):
        raise SettingsError(f"{source}: 'version' must be a string")
    thresholds = _expect_mapping(doc.get("thresholds") or {}, f"{source}: 'thresholds'")
    known = RuleSettings.threshold_keys()
    values = base.threshold_values()
    evidence: dict[str, Any] = {k: v.model_dump() for k, v in base.evidence.items()}
    for key, entry in thresholds.items():
        if key not in known:
            raise SettingsError(_unknown_key_message(str(key), known, source))
        if isinstance(entry, Mapping):
            extra = set(entry) - {"value", "tier", "source"}
            if extra or "value" not in entry:
                raise SettingsError(
                    f"{source}: thresholds.{key} must be a bare value or a mapping with "
                    "'value' and optional 'tier' and 'source'"
                )
            if ("tier" in entry) != ("source" in entry):
                raise SettingsError(f"{source}: thresholds.{key}: give both tier and source")
            new_value = entry["value"]
            tier, why = entry.get("tier"), entry.get("source")
        else:
            new_value, tier, why = entry, None, None
        shipped = base.evidence[key]
        if tier is None:
            # A local value no longer rests on the shipped evidence: it is local judgement.
            tier = "J"
            why = (
                f"Local override ({source}) of {getattr(base, key)!r}; "
                f"shipped rationale: {shipped.source}"
            )
        values[key] = new_value
        evidence[key] = {"tier": tier, "source": why, "overridden": True}
    return _validate(values, evidence, base.version, version or base.override_version, source)


def _shipped_text(name: str) -> bytes:
    return resources.files("rules").joinpath("data", name).read_bytes()


def parse_rule_settings(
    defaults: Text | None = None,
    override: Text | None = None,
    *,
    defaults_name: str = "thresholds.yaml",
    override_name: str = "override",
) -> RuleSettings:
    """Settings from YAML text: ``defaults`` (shipped file when None) plus ``override``.

    The override has the shape ``{version?: str, thresholds: {key: value | {value,
    tier?, source?}}}``; any subset of keys may be given.
    """
    base = _parse_defaults(
        _shipped_text("thresholds.yaml") if defaults is None else defaults, defaults_name
    )
    if override is None:
        return base
    return _apply_override(base, _read_yaml(override, override_name), override_name)


def load_rule_settings(path: Path | None = None) -> RuleSettings:
    """The shipped thresholds, with the deployment override file at ``path`` applied."""
    if path is None:
        return default_rule_settings()
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the thresholds override: {exc}") from exc
    return _apply_override(default_rule_settings(), _read_yaml(text, str(path)), str(path))


@functools.cache
def default_rule_settings() -> RuleSettings:
    """The shipped thresholds (parsed once; the model is frozen)."""
    return parse_rule_settings()


# --------------------------------------------------------------------------- code lists


CodeTuple = Annotated[tuple[str, ...], Field(strict=False)]


class ConceptCodes(BaseModel):
    """One clinical concept (e.g. sickle cell disease) as value sets, codes and ranges."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    description: str = Field(min_length=1)
    tier: str
    source: str = Field(min_length=1)
    value_sets: CodeTuple = ()
    codes: dict[str, CodeTuple] = Field(default_factory=dict)
    prefixes: dict[str, CodeTuple] = Field(default_factory=dict)
    numeric_ranges: dict[str, CodeTuple] = Field(default_factory=dict)
    exclude_prefixes: dict[str, CodeTuple] = Field(default_factory=dict)

    @field_validator("tier")
    @classmethod
    def _tier_is_known(cls, value: str) -> str:
        return _check_tier(value)

    @field_validator("prefixes", "exclude_prefixes")
    @classmethod
    def _ranges_parse(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for ranges in value.values():
            for rng in ranges:
                low, _, high = rng.partition("-")
                low_n = low.replace(".", "").strip().upper()
                high_n = (high or low).replace(".", "").strip().upper()
                if not low_n or len(low_n) != len(high_n) or low_n > high_n:
                    raise ValueError(f"bad prefix range {rng!r}: ends must have equal length")
        return value

    @field_validator("numeric_ranges")
    @classmethod
    def _numeric_parse(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for ranges in value.values():
            for rng in ranges:
                low, sep, high = rng.partition("-")
                if not (sep and low.isdigit() and high.isdigit() and len(low) == len(high)):
                    raise ValueError(f"bad numeric range {rng!r}: expected e.g. '10004-69990'")
        return value


class LabCodes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    egfr: CodeTuple
    qtc: CodeTuple


class PainCodes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    peg_mean: str
    peg_item1: str
    interference: CodeTuple


REQUIRED_CONCEPTS = frozenset(
    {
        "sickle_cell",
        "malignant_cancer",
        "terminal_condition",
        "limited_life_expectancy",
        "palliative_encounter",
        "hospice_finding",
        "end_of_life_procedure",
        "hospice_disposition",
        "pregnancy",
        "injury",
        "surgical_procedure",
        "neuroexcitation",
        "renal_impairment",
        "hepatic_impairment",
        "opioid_use_disorder",
        "opioid_overdose",
        "sleep_disordered_breathing",
        "mental_health_risk",
        "benzodiazepine",
        "naloxone",
    }
)


class CodeLists(BaseModel):
    """The shipped code lists (``rules/data/codes.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    version: str = Field(min_length=1)
    value_set_base: str
    systems: dict[str, CodeTuple]
    concepts: dict[str, ConceptCodes]
    lab_codes: LabCodes
    pain_codes: PainCodes

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        missing = sorted(REQUIRED_CONCEPTS - set(self.concepts))
        if missing:
            raise ValueError(f"missing concepts: {', '.join(missing)}")
        for name, concept in self.concepts.items():
            for table in (
                concept.codes,
                concept.prefixes,
                concept.numeric_ranges,
                concept.exclude_prefixes,
            ):
                unknown = sorted(set(table) - set(self.systems))
                if unknown:
                    raise ValueError(f"concept {name!r} uses unknown system aliases {unknown}")
        return self

    def concept(self, name: str) -> ConceptCodes:
        try:
            return self.concepts[name]
        except KeyError:
            raise KeyError(f"no concept {name!r} in codes.yaml") from None


def parse_code_lists(text: Text | None = None, *, name: str = "codes.yaml") -> CodeLists:
    """Code lists from YAML text (the shipped file when None)."""
    doc = _read_yaml(_shipped_text("codes.yaml") if text is None else text, name)
    try:
        return CodeLists.model_validate(_expect_mapping(doc, f"{name}: the document"))
    except ValidationError as exc:
        raise SettingsError(_format_validation_error(exc, name)) from exc


def load_code_lists(path: Path | None = None) -> CodeLists:
    """The code lists at ``path``, or the shipped ones."""
    if path is None:
        return default_code_lists()
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the code lists: {exc}") from exc
    return parse_code_lists(text, name=str(path))


@functools.cache
def default_code_lists() -> CodeLists:
    """The shipped code lists (parsed once; the model is frozen)."""
    return parse_code_lists()
