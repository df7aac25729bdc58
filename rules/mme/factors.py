"""The versioned MME conversion-factor table (``rules/data/mme/conversion_factors.yaml``).

The numbers live in data, not code, so that pharmacists can review them against the
CDC table and a change shows up as a data diff with a version bump. The file is
validated when loaded: a malformed or contradictory table must stop the service at
start-up rather than produce a wrong MME at 3 a.m.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "mme"
FACTORS_FILE = DATA_DIR / "conversion_factors.yaml"


class FormKind(StrEnum):
    """Route class of a dose form: what the factor table is keyed by besides the ingredient."""

    ORAL = "oral"
    RECTAL = "rectal"
    TRANSDERMAL = "transdermal"
    TRANSMUCOSAL_TABLET = "transmucosal_tablet"  # buccal/sublingual tablet, lozenge
    TRANSMUCOSAL_FILM_OR_ORAL_SPRAY = "transmucosal_film_or_oral_spray"
    NASAL_SPRAY = "nasal_spray"
    INJECTABLE = "injectable"
    IMPLANT = "implant"
    TOPICAL = "topical"
    OTHER = "other"


FactorBasis = Literal["mg", "mcg", "mcg/h"]
RxCui = Annotated[str, Field(pattern=r"^[0-9]+$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConversionFactor(_Frozen):
    """One factor: ``MME/day = daily amount (in ``per`` units) × factor``."""

    ingredient: str
    rxcui: RxCui
    forms: tuple[FormKind, ...] = Field(min_length=1)
    factor: float = Field(gt=0, le=100)
    per: FactorBasis
    source: str
    analytic: bool = False
    note: str | None = None


class ExcludedIngredient(_Frozen):
    """An opioid that is deliberately never counted (buprenorphine)."""

    ingredient: str
    rxcui: RxCui
    reason: str = Field(min_length=10)
    source: str | None = None


class UnsupportedIngredient(_Frozen):
    """An opioid with no factor we are willing to use; its orders are not computed."""

    ingredient: str
    rxcui: RxCui
    reason: str = Field(min_length=10)


class MoudIngredient(_Frozen):
    ingredient: str
    rxcui: RxCui


class OudOnlyDoseForm(_Frozen):
    """A dose form of an ingredient that is labelled only for opioid use disorder."""

    ingredient: str
    rxcui: RxCui
    dose_form_rxcui: RxCui
    dose_form: str
    reason: str = Field(min_length=10)


class Moud(_Frozen):
    """Medication for opioid use disorder: never counted in MME (CDC 2022, Rec 12)."""

    source: str
    reason: str = Field(min_length=10)
    ingredients: tuple[MoudIngredient, ...] = Field(min_length=1)
    oud_only_dose_forms: tuple[OudOnlyDoseForm, ...] = ()


class FactorTable(_Frozen):
    """The whole file, checked for internal consistency."""

    version: str = Field(min_length=1)
    title: str
    sources: dict[str, str]
    factors: tuple[ConversionFactor, ...] = Field(min_length=1)
    excluded: tuple[ExcludedIngredient, ...] = ()
    not_computed: tuple[UnsupportedIngredient, ...] = ()
    form_reasons: dict[FormKind, str] = Field(default_factory=dict)
    moud: Moud | None = None

    # O(1) lookups, built once: they are hit for every order of every request. Plain
    # cached properties, because pydantic private attributes are slow to read.
    @cached_property
    def _index(self) -> dict[tuple[str, FormKind], ConversionFactor]:
        return {(f.rxcui, form): f for f in self.factors for form in f.forms}

    @cached_property
    def _excluded(self) -> dict[str, str]:
        return {e.rxcui: e.reason for e in self.excluded}

    @cached_property
    def _unsupported(self) -> dict[str, str]:
        return {u.rxcui: u.reason for u in self.not_computed}

    @cached_property
    def _moud_ingredients(self) -> frozenset[str]:
        return frozenset(i.rxcui for i in self.moud.ingredients) if self.moud else frozenset()

    @cached_property
    def _oud_only_forms(self) -> dict[tuple[str, str], str]:
        forms = self.moud.oud_only_dose_forms if self.moud else ()
        return {(f.rxcui, f.dose_form_rxcui): f.reason for f in forms}

    @model_validator(mode="after")
    def _consistent(self) -> FactorTable:
        seen: set[tuple[str, FormKind]] = set()
        for f in self.factors:
            if f.source not in self.sources:
                raise ValueError(f"{f.ingredient}: unknown source {f.source!r}")
            if f.per == "mcg/h" and f.forms != (FormKind.TRANSDERMAL,):
                raise ValueError(f"{f.ingredient}: a per-mcg/h factor only applies to patches")
            for form in f.forms:
                if (f.rxcui, form) in seen:
                    raise ValueError(f"{f.ingredient}: two factors for {form}")
                seen.add((f.rxcui, form))
        factor_rxcuis = {f.rxcui for f in self.factors}
        others = [(e.rxcui, e.ingredient) for e in self.excluded]
        others += [(u.rxcui, u.ingredient) for u in self.not_computed]
        for rxcui, name in others:
            if rxcui in factor_rxcuis:
                raise ValueError(f"{name} is both counted and not counted")
        if self.moud is not None:
            if self.moud.source not in self.sources:
                raise ValueError(f"moud: unknown source {self.moud.source!r}")
            for only in self.moud.oud_only_dose_forms:
                if only.rxcui not in self._moud_ingredients:
                    raise ValueError(f"moud: {only.ingredient} is not a MOUD ingredient")
        return self

    def factor_for(self, ingredient_rxcui: str, form: FormKind) -> ConversionFactor | None:
        """The factor for this ingredient by this route, if the table has one."""
        return self._index.get((ingredient_rxcui, form))

    def excluded_reason(self, ingredient_rxcui: str) -> str | None:
        """Why this ingredient is never counted (buprenorphine), else ``None``."""
        return self._excluded.get(ingredient_rxcui)

    def moud_reason(
        self, ingredient_rxcui: str, dose_form_rxcui: str | None, *, for_oud: bool
    ) -> str | None:
        """Why an order of this ingredient and dose form is MOUD (never counted), else ``None``.

        ``for_oud`` is the caller's finding that the order's reason is opioid use
        disorder; a dose form labelled only for OUD makes it MOUD whatever the reason.
        """
        if self.moud is None or ingredient_rxcui not in self._moud_ingredients:
            return None
        form_reason = self._oud_only_forms.get((ingredient_rxcui, dose_form_rxcui or ""))
        if form_reason is not None:
            return f"{self.moud.reason}; {form_reason}"
        return self.moud.reason if for_oud else None

    def unsupported_reason(self, ingredient_rxcui: str) -> str | None:
        """Why this known opioid has no factor at all, else ``None``."""
        return self._unsupported.get(ingredient_rxcui)

    def forms_for(self, ingredient_rxcui: str) -> frozenset[FormKind]:
        """Route classes that have a factor for this ingredient (empty when none)."""
        return frozenset(form for (rx, form) in self._index if rx == ingredient_rxcui)


def parse_factor_table(text: str) -> FactorTable:
    """Validate YAML text as a factor table (raises ``pydantic.ValidationError``)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~5x faster
    return FactorTable.model_validate(yaml.load(text, Loader=loader))  # noqa: S506 (safe loader)


@cache
def load_factor_table(path: Path = FACTORS_FILE) -> FactorTable:
    """The shipped table, read and validated once per process."""
    return parse_factor_table(path.read_text(encoding="utf-8"))
