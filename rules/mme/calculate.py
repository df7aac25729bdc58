"""Pure MME arithmetic: one order's daily dose × the CDC factor.

Follows CQF ``OMTKLogic.GetDailyDose`` (opioid-mme-r4 ``MMECalculator.cql``) with its
known defects corrected:

* a dose in mg/mcg is the amount taken (tablet strength is not multiplied in);
* a dose in mL of a per-mL product is mL × strength; a count of tablets, capsules,
  actuations or a unitless count is count × strength;
* a fentanyl patch gives mcg/h × patches worn at once × 2.4, **whatever the change
  interval** (cqf-ruler #16/#23 multiplied by the frequency or applied the factor twice);
* as-needed orders count the most the directions allow per day (CDC D1), capped by
  ``max_per_day`` when that is lower;
* 2022 factors only (hydromorphone 5, methadone 4.7), from the versioned table.

Full precision is kept; round only for display (:meth:`MmePerDay.rounded`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

from rules.mme.drugs import (
    Product,
    Strength,
    StrengthUnit,
    ingredient_named_in,
    resolve_product,
    resolve_unsupported,
)
from rules.mme.factors import ConversionFactor, FactorTable, FormKind, load_factor_table
from rules.timeline import NDC, RXNORM, Amount, Dosage, MedicationOrder, OrderSource
from rules.units import MmePerDay

PATCH_HOURS_ASSUMED = 72.0  # CDC analytic file: one fentanyl patch lasts 3 days


class MmeStatus(StrEnum):
    """What the engine could say about one order."""

    COMPUTED = "computed"
    EXCLUDED = "excluded"  # never counted (buprenorphine, MOUD); MME stays complete
    NOT_COMPUTED = "not_computed"  # an opioid whose MME is unknown; MME is incomplete
    NOT_OPIOID = "not_opioid"  # ignored


class DoseUnitKind(StrEnum):
    MASS = "mass"  # normalised to mg
    VOLUME = "volume"  # normalised to mL
    COUNT = "count"  # tablets, capsules, patches, actuations, unitless
    RATE = "rate"  # normalised to mcg/h (patches)


_MASS_MG = {"mg": 1.0, "milligram": 1.0, "g": 1000.0, "gram": 1000.0}
_MASS_MG |= dict.fromkeys(("mcg", "ug", "µg", "μg", "microgram"), 0.001)
_VOLUME_ML = {"ml": 1.0, "milliliter": 1.0, "millilitre": 1.0, "cc": 1.0, "l": 1000.0}
_RATE_MCG_H = dict.fromkeys(("mcg/h", "mcg/hr", "ug/h", "ug/hr", "µg/h", "μg/h"), 1.0)
_RATE_MCG_H |= {"mg/h": 1000.0, "mg/hr": 1000.0, "mcg/h/patch": 1.0}
_COUNT = frozenset(
    {
        "", "1", "tbl", "tab", "tablet", "cap", "capsule", "pill", "patch", "each", "ea",
        "unit", "dose", "lozenge", "troche", "film", "strip", "spray", "actuat",
        "actuation", "puff", "suppository", "supp", "system", "applicator",
    }
)  # fmt: skip


@lru_cache(maxsize=512)
def dose_unit(unit: str | None) -> tuple[DoseUnitKind, float] | None:
    """Kind and scale (to mg, mL, 1 or mcg/h) of a written dose unit; ``None`` if unknown.

    Accepts UCUM (``mg``, ``ug``, ``mL``), UCUM annotations (``{tbl}``, ``{patch}``),
    plain words with plural ``s`` and an absent unit (Synthea writes ``{"value": 1}``).
    """
    text = (unit or "").strip().lower().removeprefix("{").removesuffix("}").strip()
    if text in _MASS_MG:
        return DoseUnitKind.MASS, _MASS_MG[text]
    if text in _VOLUME_ML:
        return DoseUnitKind.VOLUME, _VOLUME_ML[text]
    if text in _RATE_MCG_H:
        return DoseUnitKind.RATE, _RATE_MCG_H[text]
    for suffix in ("", "(s)", "s", "es"):
        if text.removesuffix(suffix) in _COUNT:
            return DoseUnitKind.COUNT, 1.0
    return None


@dataclass(frozen=True, slots=True)
class DailyDose:
    """The daily amount the factor multiplies: ``mg/day``, ``mcg/day`` or patch ``mcg/h``."""

    value: float
    unit: str

    def __str__(self) -> str:
        return f"{round(self.value, 2):g} {self.unit}"


@dataclass(frozen=True, slots=True)
class MmeCalculation:
    """Result of :func:`calculate_mme`: a value, or a status with the reason it has none."""

    status: MmeStatus
    mme_per_day: MmePerDay | None = None
    daily_dose: DailyDose | None = None
    factor: ConversionFactor | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()


def _not_computed(problem: str, factor: ConversionFactor | None = None) -> MmeCalculation:
    return MmeCalculation(MmeStatus.NOT_COMPUTED, factor=factor, problem=problem)


def ingredient_mg(amount: Amount, strength: Strength | None) -> float | str:
    """Milligrams of ingredient in ``amount`` (a dose, a day or a quantity), or why not."""
    parsed = dose_unit(amount.unit)
    if parsed is None:
        return f"dose unit {amount.unit!r} is not understood"
    if not (amount.value >= 0):
        return f"dose {amount.value!r} is not a usable number"
    kind, scale = parsed
    if kind is DoseUnitKind.MASS:
        return amount.value * scale
    if strength is None:
        return "the product strength is unknown (ingredient-level code); give the dose in mg"
    if kind is DoseUnitKind.VOLUME:
        if strength.unit is not StrengthUnit.MG_PER_ML:
            return f"dose in mL but the product strength is {strength.value:g} {strength.unit}"
        return amount.value * scale * strength.value
    if kind is DoseUnitKind.COUNT:
        if strength.unit not in (StrengthUnit.MG, StrengthUnit.MG_PER_ACTUATION):
            return f"dose is a count but the product strength is {strength.value:g} {strength.unit}"
        return amount.value * strength.value
    return f"dose unit {amount.unit!r} is a rate, which only fits a patch"


def _patch_mme(
    factor: ConversionFactor, strength: Strength | None, dose: Amount | None
) -> MmeCalculation:
    """Fentanyl patch: mcg/h worn × 2.4. Change interval and doses/day deliberately ignored."""
    if strength is None or strength.unit is not StrengthUnit.MG_PER_HOUR:
        shown = "unknown" if strength is None else f"{strength.value:g} {strength.unit}"
        return _not_computed(f"patch strength is {shown}, not a rate per hour", factor)
    notes: tuple[str, ...] = ()
    if dose is None:
        mcg_per_hour = strength.value * 1000.0
        notes = ("no dose given: one patch worn at a time assumed",)
    else:
        parsed = dose_unit(dose.unit)
        if parsed is None or parsed[0] in (DoseUnitKind.MASS, DoseUnitKind.VOLUME):
            return _not_computed(
                f"patch dose {dose.value:g} {dose.unit or ''} is neither patches nor mcg/h".strip(),
                factor,
            )
        if not (dose.value >= 0):
            return _not_computed(f"dose {dose.value!r} is not a usable number", factor)
        kind, scale = parsed
        if kind is DoseUnitKind.RATE:
            mcg_per_hour = dose.value * scale
        else:
            mcg_per_hour = strength.value * 1000.0 * dose.value
    return MmeCalculation(
        MmeStatus.COMPUTED,
        mme_per_day=MmePerDay(mcg_per_hour * factor.factor),
        daily_dose=DailyDose(mcg_per_hour, "mcg/h"),
        factor=factor,
        notes=notes,
    )


def calculate_mme(
    *,
    ingredient_rxcui: str,
    form: FormKind | None,
    strength: Strength | None,
    dose: Amount | None,
    doses_per_day: float | None,
    as_needed: bool = False,
    max_per_day: Amount | None = None,
    interval_days: float | None = None,
    table: FactorTable | None = None,
) -> MmeCalculation:
    """MME/day for one opioid ingredient from plain values, or why it cannot be computed.

    ``form`` is the route class (``None`` when the code gave no dose form: the oral
    factor is then assumed if the ingredient has one, and a note says so).
    ``interval_days`` is accepted so callers can pass the whole sig, but never changes
    the result: a patch's MME does not depend on how often it is changed.
    """
    del interval_days  # see docstring: ignoring it is the point
    table = table or load_factor_table()
    excluded = table.excluded_reason(ingredient_rxcui)
    if excluded is not None:
        return MmeCalculation(MmeStatus.EXCLUDED, problem=excluded)
    unsupported = table.unsupported_reason(ingredient_rxcui)
    if unsupported is not None:
        return _not_computed(unsupported)

    notes: list[str] = []
    if form is None:
        if FormKind.ORAL not in table.forms_for(ingredient_rxcui):
            return _not_computed("the dose form is unknown and this opioid has no oral factor")
        form = FormKind.ORAL
        notes.append("dose form unknown (ingredient-level code): oral factor assumed")
    factor = table.factor_for(ingredient_rxcui, form)
    if factor is None:
        reason = table.form_reasons.get(form)
        if reason is None:
            reason = f"no MME conversion factor for this opioid as a {form.value.replace('_', ' ')}"
        return _not_computed(reason)

    if factor.per == "mcg/h":
        return _patch_mme(factor, strength, dose)

    scheduled: float | None = None
    if dose is not None and doses_per_day is not None:
        if not (doses_per_day > 0):
            return _not_computed(f"{doses_per_day!r} doses per day is not usable", factor)
        per_dose = ingredient_mg(dose, strength)
        if isinstance(per_dose, str):
            return _not_computed(per_dose, factor)
        scheduled = per_dose * doses_per_day
    cap: float | None = None
    if max_per_day is not None:
        cap_mg = ingredient_mg(max_per_day, strength)
        if isinstance(cap_mg, str):
            if scheduled is None:
                return _not_computed(f"maximum per day: {cap_mg}", factor)
        else:
            cap = cap_mg

    if scheduled is None and cap is None:
        missing = "dose" if dose is None else "frequency"
        return _not_computed(f"no {missing} in the directions", factor)
    if scheduled is None:
        assert cap is not None
        daily_mg = cap
        notes.append("daily amount taken from the maximum allowed per day")
    elif cap is not None and as_needed and cap < scheduled:
        daily_mg = cap
        notes.append("as-needed: maximum per day is lower than dose × frequency")
    else:
        daily_mg = scheduled
    if as_needed:
        notes.append("as-needed: counted at the most the directions allow")

    amount, unit = (daily_mg * 1000.0, "mcg/day") if factor.per == "mcg" else (daily_mg, "mg/day")
    return MmeCalculation(
        MmeStatus.COMPUTED,
        mme_per_day=MmePerDay(amount * factor.factor),
        daily_dose=DailyDose(amount, unit),
        factor=factor,
        notes=tuple(notes),
    )


@dataclass(frozen=True, slots=True)
class OrderMme:
    """One order's MME, with everything the explain endpoint shows.

    ``status``: ``computed`` (``mme_per_day`` set), ``excluded`` (an opioid never counted,
    e.g. buprenorphine: MME stays complete), ``not_computed`` (an opioid whose MME is
    unknown: ``problem`` says why and the total is incomplete) or ``not_opioid`` (ignored).
    ``factor`` is the number applied and ``analytic`` tells it comes from the CDC
    analytic file, not the clinical table. ``formulation`` (ingredient RxCUI, dose form
    RxCUI) is the key by which orders supersede each other.
    """

    reference: str
    source: OrderSource
    status: MmeStatus
    rxnorm: str | None = None
    ndc: str | None = None
    product_name: str | None = None
    ingredient: str | None = None
    ingredient_rxcui: str | None = None
    dose_form: str | None = None
    formulation: tuple[str, str | None] | None = None
    daily_dose: DailyDose | None = None
    factor: float | None = None
    factor_source: str | None = None
    mme_per_day: MmePerDay | None = None
    problem: str | None = None
    analytic: bool = False
    from_text: bool = False
    notes: tuple[str, ...] = ()
    product: Product | None = None
    moud: bool = False  # excluded as medication for opioid use disorder

    @property
    def counts(self) -> bool:
        """True for opioids (computed or not); false for excluded and non-opioid orders."""
        return self.status in (MmeStatus.COMPUTED, MmeStatus.NOT_COMPUTED)


def _first_code(order: MedicationOrder, system: str) -> str | None:
    return next((c.code for c in order.codes if c.system == system), None)


def _never_counted(
    table: FactorTable, ingredient_rxcui: str, *, for_oud: bool
) -> tuple[str | None, bool]:
    """Why an ingredient without product data is never counted, and whether as MOUD."""
    moud = table.moud_reason(ingredient_rxcui, None, for_oud=for_oud)
    return (moud, True) if moud else (table.excluded_reason(ingredient_rxcui), False)


def _unknown_product(order: MedicationOrder, table: FactorTable, *, for_oud: bool) -> OrderMme:
    """No strength data: a recognised opioid (not computed / excluded) or not an opioid."""
    base = OrderMme(
        reference=order.reference,
        source=order.source,
        status=MmeStatus.NOT_OPIOID,
        rxnorm=_first_code(order, RXNORM),
        ndc=_first_code(order, NDC),
        from_text=order.dosage.from_text if order.dosage else False,
    )
    unsupported = resolve_unsupported(order.codes)
    if unsupported is not None:
        ing = unsupported.ingredient
        excluded, moud = _never_counted(table, ing.rxcui, for_oud=for_oud) if ing else (None, False)
        return replace(
            base,
            status=MmeStatus.EXCLUDED if excluded else MmeStatus.NOT_COMPUTED,
            moud=moud,
            rxnorm=unsupported.code,
            product_name=unsupported.name,
            ingredient=ing.name if ing else None,
            ingredient_rxcui=ing.rxcui if ing else None,
            problem=excluded
            or f"opioid RxCUI {unsupported.code} has no strength data in the drug tables",
        )
    named = ingredient_named_in(
        order.text, *(c.display for c in order.codes), order.dosage.text if order.dosage else None
    )
    if named is None:
        return base
    excluded, moud = _never_counted(table, named.rxcui, for_oud=for_oud)
    codes = ", ".join(c.code for c in order.codes) or "none"
    return replace(
        base,
        status=MmeStatus.EXCLUDED if excluded else MmeStatus.NOT_COMPUTED,
        moud=moud,
        ingredient=named.name,
        ingredient_rxcui=named.rxcui,
        problem=excluded or f"{named.name} is named in the text but its code ({codes}) is unknown",
    )


def _daily_from_supply(order: MedicationOrder) -> tuple[Amount, float] | None:
    """CDC analytic formula inputs when there is no sig: (quantity, 1 ÷ days supply)."""
    if order.quantity is None or not order.supply_days or order.supply_days <= 0:
        return None
    return order.quantity, 1.0 / order.supply_days


def order_mme(
    order: MedicationOrder, *, table: FactorTable | None = None, for_oud: bool = False
) -> OrderMme:
    """MME/day of one order, dispense or draft, resolved from its codes (RxNorm, then NDC).

    Without directions, a dispense (or an order with quantity and days supply) uses the
    CDC analytic formula: strength × units ÷ days supply × factor; a patch dispense is
    taken as one patch worn at a time, which is what the CDC's "days supply = patches × 3"
    rule amounts to. ``for_oud`` says the order's reason is opioid use disorder: a
    methadone or buprenorphine order is then MOUD and excluded, as is one in a dose form
    labelled only for OUD (``FactorTable.moud_reason``).
    """
    table = table or load_factor_table()
    product = resolve_product(order.codes)
    if product is None:
        return _unknown_product(order, table, for_oud=for_oud)
    dose_form = product.dose_form
    moud = table.moud_reason(
        product.ingredient.rxcui, dose_form.rxcui if dose_form else None, for_oud=for_oud
    )
    notes: tuple[str, ...] = ()
    if moud is not None:
        calc = MmeCalculation(MmeStatus.EXCLUDED, problem=moud)
    else:
        calc, notes = _calculate_order(order, product, table)
    factor = calc.factor
    return OrderMme(
        reference=order.reference,
        source=order.source,
        status=calc.status,
        rxnorm=product.code if product.system == RXNORM else _first_code(order, RXNORM),
        ndc=product.code if product.system == NDC else _first_code(order, NDC),
        product_name=product.name,
        ingredient=product.ingredient.name,
        ingredient_rxcui=product.ingredient.rxcui,
        dose_form=dose_form.name if dose_form else None,
        formulation=product.formulation,
        daily_dose=calc.daily_dose,
        factor=factor.factor if factor else None,
        factor_source=factor.source if factor else None,
        mme_per_day=calc.mme_per_day,
        problem=calc.problem,
        analytic=factor.analytic if factor else False,
        from_text=order.dosage.from_text if order.dosage else False,
        notes=notes + calc.notes,
        product=product,
        moud=moud is not None,
    )


def _calculate_order(
    order: MedicationOrder, product: Product, table: FactorTable
) -> tuple[MmeCalculation, tuple[str, ...]]:
    if order.problem and table.excluded_reason(product.ingredient.rxcui) is None:
        return MmeCalculation(MmeStatus.NOT_COMPUTED, problem=order.problem), ()
    dosage: Dosage | None = order.dosage
    form = product.dose_form.kind if product.dose_form else None
    dose: Amount | None = dosage.dose if dosage else None
    doses_per_day = dosage.doses_per_day if dosage else None
    notes: tuple[str, ...] = ()
    if dose is None and doses_per_day is None and (dosage is None or dosage.max_per_day is None):
        supply = _daily_from_supply(order)
        if supply is not None and form is not FormKind.TRANSDERMAL:
            dose, doses_per_day = supply
            notes = ("no directions: daily dose from quantity ÷ days supply (CDC formula)",)
        elif form is not FormKind.TRANSDERMAL:
            return _not_computed_with(table, product, "no dosage instructions"), ()
    calc = calculate_mme(
        ingredient_rxcui=product.ingredient.rxcui,
        form=form,
        strength=product.strength,
        dose=dose,
        doses_per_day=doses_per_day,
        as_needed=dosage.as_needed if dosage else False,
        max_per_day=dosage.max_per_day if dosage else None,
        interval_days=dosage.interval_days if dosage else None,
        table=table,
    )
    return calc, notes


def _not_computed_with(table: FactorTable, product: Product, problem: str) -> MmeCalculation:
    """``problem`` unless the ingredient is excluded anyway (buprenorphine needs no sig)."""
    excluded = table.excluded_reason(product.ingredient.rxcui)
    if excluded is not None:
        return MmeCalculation(MmeStatus.EXCLUDED, problem=excluded)
    return MmeCalculation(MmeStatus.NOT_COMPUTED, problem=problem)
