"""What every card rule shares: its metadata file, the common gate, and number formatting.

One rule = one module (logic) + one YAML file (title, links, override reasons, fixed
texts, and the scenario cases where it must fire and stay silent), side by side here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field

from rules.assessment import Assessment, HookKind
from rules.findings import (
    Finding,
    LinkSpec,
    OverrideReasonSpec,
    RuleDecision,
    Severity,
    SuggestionKind,
    SuggestionSpec,
)

MAX_SUMMARY = 139


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Reason(_Strict):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")
    display: str = Field(min_length=1)


class _Cases(_Strict):
    fires: tuple[str, ...] = Field(min_length=1)
    silent: tuple[str, ...] = Field(min_length=1)


class CardMeta(_Strict):
    """One card type's metadata, validated when first loaded."""

    topic: str = Field(pattern=r"^[a-z][a-z0-9\-]{1,99}$")  # Epic: alphanumeric, <= 100
    title: str
    evidence: str
    links: tuple[str, ...]
    override_reasons: tuple[_Reason, ...] = Field(min_length=1)
    suggestions: dict[SuggestionKind, str]
    texts: dict[str, str]
    cases: _Cases


class _Link(_Strict):
    label: str
    url: str = Field(pattern=r"^https://")


class CommonMeta(_Strict):
    links: dict[str, _Link]
    texts: dict[str, str]


def _read(name: str) -> object:
    return yaml.safe_load(resources.files("rules.cards").joinpath(name).read_text("utf-8"))


@cache
def common() -> CommonMeta:
    return CommonMeta.model_validate(_read("_common.yaml"))


@cache
def meta(module: str) -> CardMeta:
    data = CardMeta.model_validate(_read(f"{module}.yaml"))
    unknown = [name for name in data.links if name not in common().links]
    if unknown:
        raise ValueError(f"{module}.yaml names unknown links: {unknown}")
    return data


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: RuleDecision
    finding: Finding | None = None


#: A card rule: the assessment and the findings of rules evaluated before it.
RuleFn = Callable[[Assessment, Mapping[str, Finding]], Outcome]


@dataclass(frozen=True, slots=True)
class CardRule:
    topic: str
    module: str
    evaluate: RuleFn

    @property
    def meta(self) -> CardMeta:
        return meta(self.module)


def silent(topic: str, reason: str) -> Outcome:
    return Outcome(RuleDecision(topic, False, reason))


def gate(a: Assessment) -> str | None:
    """Why no dose-based card may speak for this call, or None when they may.

    Exclusions silence everything; unknown MME silences the dose-based cards (the
    ``mme-incomplete`` card says why); on an order hook the cards speak only when a
    draft opioid order raises the total daily MME.
    """
    if a.exclusions.excluded:
        return a.exclusions.reason
    if not a.has_opioids:
        return "No opioid orders in the look-back period and no opioid among the draft orders."
    if a.incomplete:
        return (
            "The daily MME could not be computed for every opioid order, so dose rules stay silent."
        )
    if a.exclusions.pregnant:
        return a.exclusions.reason
    if a.hook is HookKind.ORDER:
        if not a.draft_opioids:
            return "No draft opioid order: ordering cards look at opioid drafts only."
        if not a.draft_raises_mme:
            return (
                f"The draft does not raise the total daily MME ({mme(a.mme.current.value)} now, "
                f"{mme(a.mme.projected.value)} with the draft)."
            )
    return None


def build_finding(
    rule_module: str,
    severity: Severity,
    summary: str,
    detail_parts: list[str],
    suggestions: list[SuggestionSpec] | None = None,
) -> Finding:
    data = meta(rule_module)
    if len(summary) > MAX_SUMMARY:
        raise ValueError(f"{data.topic}: summary longer than {MAX_SUMMARY} characters: {summary!r}")
    shared = common()
    detail = "\n\n".join(
        [*detail_parts, f"_{shared.texts['data_limits']} {shared.texts['not_validated']}_"]
    )
    return Finding(
        topic=data.topic,
        topic_display=data.title,
        severity=severity,
        summary=summary,
        detail=detail,
        suggestions=tuple(suggestions or ()),
        links=tuple(
            LinkSpec(shared.links[name].label, shared.links[name].url) for name in data.links
        ),
        override_reasons=tuple(
            OverrideReasonSpec(r.code, r.display) for r in data.override_reasons
        ),
    )


def suggestion(rule_module: str, kind: SuggestionKind, target: str | None = None) -> SuggestionSpec:
    return SuggestionSpec(kind=kind, label=meta(rule_module).suggestions[kind], target=target)


def mme(value: float) -> str:
    """MME/day as clinicians read it: at most one decimal, no trailing zero."""
    return f"{round(value, 1):g}"


def points(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value, 1):g}"


def day(value: date | None) -> str:
    return value.isoformat() if value else "unknown"
