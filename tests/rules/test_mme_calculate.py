"""One order's MME: every 2022 ingredient and dose form, the CDC worked examples, and the
defects of the public reference implementations (patch frequency, 2016 factors)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rules.mme import (
    FormKind,
    MmeStatus,
    Strength,
    StrengthUnit,
    calculate_mme,
    dose_unit,
    load_factor_table,
    order_mme,
)
from rules.timeline import Amount, OrderSource
from tests.rules import codes as c
from tests.rules.codes import make_order, ndc, rx


def mme(
    order_code: str, dose: float | None, unit: str | None, per_day: float | None, **kw
) -> float:
    result = order_mme(make_order(order_code, dose, unit, per_day, **kw))
    assert result.status is MmeStatus.COMPUTED, result.problem
    assert result.mme_per_day is not None
    return result.mme_per_day.value


# (code, dose, unit, doses/day, expected MME/day, why)
TABLE = [
    # mg doses: dose × doses/day × factor; tablet strength is NOT multiplied in
    (c.CODEINE_30_APAP_300_TAB, 30, "mg", 4, 18.0, "codeine 0.15"),
    (c.HYDROCODONE_5_APAP_325_TAB, 5, "mg", 4, 20.0, "hydrocodone 1"),
    (c.HYDROMORPHONE_2_TAB, 2, "mg", 4, 40.0, "hydromorphone 5 (2022), not 4"),
    (c.METHADONE_10_TAB, 10, "mg", 2, 94.0, "methadone 4.7 (2022), not tiered 8"),
    (c.MORPHINE_15_TAB, 15, "mg", 4, 60.0, "morphine 1"),
    (c.OXYCODONE_5_TAB, 10, "mg", 3, 45.0, "10 mg of a 5 mg tablet counts as 10 mg"),
    (c.OXYMORPHONE_5_TAB, 5, "mg", 2, 30.0, "oxymorphone 3"),
    (c.TAPENTADOL_50_TAB, 50, "mg", 4, 80.0, "tapentadol 0.4"),
    (c.TRAMADOL_50_TAB, 50, "mg", 4, 40.0, "tramadol 0.2 (2022), not 0.1"),
    # micrograms are converted to mg
    (c.HYDROMORPHONE_2_TAB, 2000, "ug", 1, 10.0, "ug is UCUM for mcg"),
    # tablet / capsule counts: count × strength
    (c.CODEINE_30_APAP_300_TAB, 2, "{tbl}", 3, 27.0, "2 tablets TID"),
    (c.HYDROCODONE_5_APAP_325_TAB, 1, "TAB", 4, 20.0, "Epic-style TAB"),
    (c.HYDROMORPHONE_2_TAB, 2, "tablets", 3, 60.0, "plural words"),
    (c.METHADONE_10_TAB, 1, "{tbl}", 3, 141.0, "methadone 30 mg/day"),
    (c.MORPHINE_ER_15_TAB, 1, "{tbl}", 2, 30.0, "ER morphine"),
    (c.OXYCODONE_5_CAP, 2, "capsule", 4, 60.0, "capsules"),
    (c.OXYMORPHONE_5_TAB, 1, "{pill}", 4, 60.0, "{pill}"),
    (c.TAPENTADOL_50_TAB, 1, "1", 2, 40.0, "UCUM unity"),
    (c.TRAMADOL_50_TAB, 1, None, 4, 40.0, "unitless count (Synthea)"),
    (c.OXYCODONE_ASPIRIN_TWO_SALTS, 1, "{tbl}", 4, 29.28, "two oxycodone salts summed"),
    # mL of liquid: mL × mg/mL
    (c.CODEINE_2_4_APAP_SOLN, 12.5, "mL", 4, 18.0, "codeine elixir"),
    (c.HYDROCODONE_0_5_APAP_SOLN, 10, "mL", 4, 20.0, "hydrocodone solution"),
    (c.HYDROMORPHONE_1_SOLN, 2, "mL", 6, 60.0, "hydromorphone liquid"),
    (c.METHADONE_1_SOLN, 10, "mL", 1, 47.0, "methadone liquid"),
    (c.MORPHINE_4_SOLN, 2.5, "mL", 6, 60.0, "morphine liquid"),
    (c.OXYCODONE_1_SOLN, 5, "ml", 4, 30.0, "oxycodone liquid, lower-case ml"),
    (c.TAPENTADOL_20_SOLN, 2.5, "mL", 4, 80.0, "tapentadol liquid"),
    (c.TRAMADOL_5_SOLN, 10, "mL", 4, 40.0, "tramadol liquid (opioid-mme-r4 extra code)"),
    # patches: mcg/h × patches × 2.4
    (c.FENTANYL_12_PATCH, 1, "{patch}", 1 / 3, 28.8, "RxNorm writes 12.5 mcg/h as 0.012"),
    (c.FENTANYL_25_PATCH, 1, "{patch}", 1 / 3, 60.0, "CDC: 25 mcg/h = 60 MME"),
    (c.FENTANYL_50_PATCH, 2, "patches", 1 / 3, 240.0, "two patches at once"),
    (c.FENTANYL_100_PATCH, 1, "{patch}", 1 / 3, 240.0, "100 mcg/h"),
    (c.FENTANYL_25_PATCH, 75, "ug/h", 1 / 3, 180.0, "dose written as a rate"),
    # rectal: 2022 factor, analytic route extension
    (c.MORPHINE_10_SUPP, 1, "{supp}", 3, 30.0, "morphine suppository"),
]


@pytest.mark.parametrize(("code", "dose", "unit", "per_day", "expected", "why"), TABLE)
def test_table(code, dose, unit, per_day, expected, why):
    assert mme(code, dose, unit, per_day) == pytest.approx(expected), why


def test_every_2022_ingredient_is_covered_by_the_table():
    table = load_factor_table()
    clinical = {f.rxcui for f in table.factors if f.source == "cdc-2022" and not f.analytic}
    covered = {order_mme(make_order(row[0], 1, "mg", 1)).ingredient_rxcui for row in TABLE}
    assert clinical <= covered


# --- CDC worked examples ----------------------------------------------------------------


def test_cdc_hydrocodone_5_apap_325_qid_is_20():
    result = order_mme(make_order(c.HYDROCODONE_5_APAP_325_TAB, 1, "{tbl}", 4))
    assert result.mme_per_day is not None
    assert result.mme_per_day.rounded() == 20.0
    assert result.ingredient == "hydrocodone"  # acetaminophen is not counted
    assert result.daily_dose is not None
    assert (result.daily_dose.value, result.daily_dose.unit) == (20.0, "mg/day")
    assert result.factor == 1.0


def test_cdc_oxycodone_er_10_bid_is_30():
    result = order_mme(make_order(c.OXYCODONE_ER_10_TAB, 10, "mg", 2))
    assert result.mme_per_day is not None
    assert result.mme_per_day.rounded() == 30.0
    assert result.dose_form == "Extended Release Oral Tablet"


def test_cdc_fentanyl_25_patch_is_60():
    result = order_mme(make_order(c.FENTANYL_25_PATCH, 1, "{patch}", 1 / 3))
    assert result.mme_per_day is not None
    assert result.mme_per_day.rounded() == 60.0
    assert result.daily_dose is not None
    assert result.daily_dose.unit == "mcg/h"
    assert result.daily_dose.value == pytest.approx(25.0)


# --- regression: fentanyl patch MME does not depend on the change frequency ------------------


@pytest.mark.parametrize(
    ("per_day", "interval_days"),
    [(1 / 3, 3.0), (1 / 3, None), (0.5, 2.0), (0.5, None), (1.0, 1.0), (1.0, None), (None, 3.0)],
    ids=[
        "q72h",
        "q72h-no-interval",
        "q48h",
        "q48h-no-interval",
        "daily",
        "daily-no-interval",
        "interval-only",
    ],
)
def test_fentanyl_75_patch_is_180_however_often_changed(per_day, interval_days):
    # cqf-ruler #16/#23: multiplying by doses/day gave 540 for a daily change, 144 for 25 mcg/h.
    result = order_mme(
        make_order(c.FENTANYL_75_PATCH, 1, "{patch}", per_day, interval_days=interval_days)
    )
    assert result.mme_per_day is not None
    assert result.mme_per_day.rounded() == 180.0


def test_patch_with_no_dose_assumes_one_patch_and_says_so():
    result = order_mme(make_order(c.FENTANYL_75_PATCH, None, None, 1 / 3))
    assert result.mme_per_day is not None
    assert result.mme_per_day.rounded() == 180.0
    assert any("one patch" in n for n in result.notes)


def test_patch_dose_in_mg_is_not_guessed():
    result = order_mme(make_order(c.FENTANYL_25_PATCH, 25, "mcg", 1 / 3))
    assert result.status is MmeStatus.NOT_COMPUTED
    assert result.problem
    assert "patch" in result.problem


def test_iontophoretic_fentanyl_is_not_computed():
    result = order_mme(make_order(c.FENTANYL_IONSYS, 1, "{actuat}", 6))
    assert result.status is MmeStatus.NOT_COMPUTED
    assert result.problem
    assert "per hour" in result.problem


# --- 2022 not 2016 -----------------------------------------------------------------------


def test_hydromorphone_uses_5_and_methadone_4_7():
    hm = order_mme(make_order(c.HYDROMORPHONE_2_TAB, 4, "mg", 1))
    md = order_mme(make_order(c.METHADONE_10_TAB, 60, "mg", 1))  # 2016 tier would be 12
    assert hm.factor == 5.0
    assert hm.mme_per_day is not None
    assert hm.mme_per_day.value == 20.0
    assert md.factor == 4.7
    assert md.mme_per_day is not None
    assert md.mme_per_day.value == pytest.approx(282.0)
    assert not hm.analytic
    assert not md.analytic


# --- PRN -------------------------------------------------------------------------------


def test_prn_counts_at_frequency_max():
    # oxycodone 5 mg q4-6h PRN: frequencyMax gives 6 doses/day
    order = make_order(c.OXYCODONE_5_TAB, 1, "{tbl}", 6, as_needed=True)
    result = order_mme(order)
    assert result.mme_per_day is not None
    assert result.mme_per_day.value == pytest.approx(45.0)
    assert any("as-needed" in n for n in result.notes)


def test_prn_max_per_day_caps_when_lower():
    # 1 tablet q4h PRN (6/day), max 4 tablets/day: 4 × 5 mg × 1.5
    value = mme(c.OXYCODONE_5_TAB, 1, "{tbl}", 6, as_needed=True, max_per_day=Amount(4, "{tbl}"))
    assert value == pytest.approx(30.0)


def test_prn_max_per_day_higher_than_frequency_does_not_raise_it():
    value = mme(c.OXYCODONE_5_TAB, 1, "{tbl}", 4, as_needed=True, max_per_day=Amount(60, "mg"))
    assert value == pytest.approx(30.0)


def test_prn_max_per_day_as_only_information():
    value = mme(
        c.HYDROCODONE_5_APAP_325_TAB,
        1,
        "{tbl}",
        None,
        as_needed=True,
        max_per_day=Amount(8, "{tbl}"),
    )
    assert value == pytest.approx(40.0)


def test_prn_max_per_day_in_mg():
    value = mme(c.MORPHINE_4_SOLN, 5, "mL", 6, as_needed=True, max_per_day=Amount(60, "mg"))
    assert value == pytest.approx(60.0)


# --- buprenorphine, injectables, unknowns ---------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        c.BUPRENORPHINE_2_SL_TAB,
        c.BUPRENORPHINE_NALOXONE_8_FILM,
        c.BUPRENORPHINE_35_PATCH,
        c.BUPRENORPHINE_IN,
    ],
)
def test_buprenorphine_is_never_counted(code):
    result = order_mme(make_order(code, 1, "{tbl}", 3))
    assert result.status is MmeStatus.EXCLUDED
    assert result.mme_per_day is None
    assert result.problem
    assert "buprenorphine" in result.problem
    assert not result.counts


def test_buprenorphine_is_excluded_even_without_directions():
    result = order_mme(make_order(c.BUPRENORPHINE_2_SL_TAB, no_dosage=True))
    assert result.status is MmeStatus.EXCLUDED


@pytest.mark.parametrize("code", [c.MORPHINE_10_INJ, c.HYDROMORPHONE_2_INJ])
def test_injectables_are_not_computed_with_a_reason(code):
    result = order_mme(make_order(code, 1, "mL", 6))
    assert result.status is MmeStatus.NOT_COMPUTED
    assert result.problem
    assert "injectable" in result.problem
    assert result.counts


def test_unknown_rxcui_naming_an_opioid_is_not_computed():
    order = make_order(rx("99999999", "oxycodone 7.5 mg tablet"), 1, "{tbl}", 4)
    result = order_mme(order)
    assert result.status is MmeStatus.NOT_COMPUTED
    assert result.ingredient == "oxycodone"
    assert result.problem
    assert "99999999" in result.problem


def test_unknown_rxcui_of_a_non_opioid_is_ignored():
    result = order_mme(
        make_order(rx(c.LISINOPRIL_10_TAB, "lisinopril 10 MG Oral Tablet"), 1, "{tbl}", 1)
    )
    assert result.status is MmeStatus.NOT_OPIOID
    assert not result.counts


def test_value_set_opioid_without_strength_is_not_computed():
    result = order_mme(make_order(c.TRAMADOL_25_TAB_NO_STRENGTH, 1, "{tbl}", 4))
    assert result.status is MmeStatus.NOT_COMPUTED
    assert result.ingredient == "tramadol"
    assert result.problem
    assert "strength" in result.problem


def test_uncoded_order_with_opioid_text_is_not_computed():
    order = make_order(None, 1, "{tbl}", 4, text="Percocet (oxycodone/acetaminophen) 5/325")
    assert order_mme(order).status is MmeStatus.NOT_COMPUTED


def test_synthea_trap_833036_is_hydrocodone_whatever_its_display():
    order = make_order(
        rx(c.HYDROCODONE_7_5_APAP_750_TAB, "Captopril 25 MG Oral Tablet"), 1, None, 4
    )
    result = order_mme(order)
    assert result.ingredient == "hydrocodone"
    assert result.mme_per_day is not None
    assert result.mme_per_day.value == pytest.approx(30.0)


def test_withdrawn_propoxyphene_is_not_computed():
    result = order_mme(make_order(c.PROPOXYPHENE_65_CAP, 1, "{cap}", 4))
    assert result.status is MmeStatus.NOT_COMPUTED
    assert result.problem
    assert "withdrawn" in result.problem


# --- analytic (CDC 2018 file) products ------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "dose", "unit", "per_day", "expected", "factor"),
    [
        (c.LEVORPHANOL_2_TAB, 1, "{tbl}", 3, 66.0, 11.0),
        (c.MEPERIDINE_50_TAB, 1, "{tbl}", 4, 20.0, 0.1),
        (c.PENTAZOCINE_50_TAB, 1, "{tbl}", 4, 74.0, 0.37),
        (c.DIHYDROCODEINE_10_APAP_TAB, 2, "{tbl}", 4, 20.0, 0.25),
        (c.OPIUM_60_SUPP, 1, "{supp}", 2, 120.0, 1.0),
        (c.BUTORPHANOL_NASAL, 1, "spray", 4, 28.0, 7.0),
        (c.FENTANYL_200_BUCCAL_TAB, 1, "{tbl}", 4, 104.0, 0.13),
        (c.FENTANYL_200_LOZENGE, 200, "mcg", 4, 104.0, 0.13),
        (c.FENTANYL_200_BUCCAL_FILM, 1, "film", 4, 144.0, 0.18),
        (c.FENTANYL_100_MUCOSAL_SPRAY, 1, "spray", 4, 72.0, 0.18),
        (c.FENTANYL_100_NASAL_SPRAY, 1, "spray", 4, 64.0, 0.16),
        (c.MORPHINE_10_SUPP, 1, "{supp}", 1, 10.0, 1.0),
    ],
)
def test_analytic_products_are_computed_and_flagged(code, dose, unit, per_day, expected, factor):
    result = order_mme(make_order(code, dose, unit, per_day))
    assert result.status is MmeStatus.COMPUTED, result.problem
    assert result.analytic is True
    assert result.factor == factor
    assert result.mme_per_day is not None
    assert result.mme_per_day.value == pytest.approx(expected)


def test_transmucosal_fentanyl_daily_dose_is_in_mcg():
    result = order_mme(make_order(c.FENTANYL_200_BUCCAL_TAB, 1, "{tbl}", 4))
    assert result.daily_dose is not None
    assert (result.daily_dose.unit, result.daily_dose.value) == ("mcg/day", pytest.approx(800.0))


# --- NDC ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "dose", "unit", "per_day", "expected"),
    [
        (c.NDC_DURAGESIC_75, 1, "{patch}", 1.0, 180.0),
        (c.NDC_TRAMADOL_50, 1, "{tbl}", 4, 40.0),
        ("0093-0058-01", 1, "{tbl}", 4, 40.0),  # 4-4-2 written NDC
        (c.NDC_METHADONE_10, 1, "{tbl}", 2, 94.0),
        (c.NDC_LAZANDA_100, 1, "spray", 2, 32.0),
    ],
)
def test_ndc_lookup(code, dose, unit, per_day, expected):
    result = order_mme(make_order(ndc(code), dose, unit, per_day))
    assert result.status is MmeStatus.COMPUTED, result.problem
    assert result.ndc is not None
    assert len(result.ndc) == 11
    assert result.mme_per_day is not None
    assert result.mme_per_day.value == pytest.approx(expected)


def test_rxnorm_wins_over_ndc():
    order = make_order(rx(c.OXYCODONE_5_TAB), 1, "{tbl}", 4)
    order = replace(order, codes=(ndc(c.NDC_TRAMADOL_50), rx(c.OXYCODONE_5_TAB)))
    result = order_mme(order)
    assert result.ingredient == "oxycodone"
    assert result.rxnorm == c.OXYCODONE_5_TAB


def test_ndc_buprenorphine_excluded():
    assert (
        order_mme(make_order(ndc(c.NDC_BUPRENORPHINE_2_SL), 1, "{tbl}", 2)).status
        is MmeStatus.EXCLUDED
    )


# --- sigs that cannot be computed -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "dose", "unit", "per_day", "problem_word"),
    [
        (c.OXYCODONE_5_TAB, 5, "mL", 4, "mL"),  # mL of a tablet
        (c.MORPHINE_4_SOLN, 1, "{tbl}", 4, "count"),  # tablets of a liquid
        (c.OXYCODONE_5_TAB, 1, "{puffs of smoke}", 4, "not understood"),
        (c.OXYCODONE_5_TAB, None, None, 4, "dose"),
        (c.OXYCODONE_5_TAB, 1, "{tbl}", None, "frequency"),
        (c.OXYCODONE_5_TAB, 1, "{tbl}", 0, "per day"),
        (c.OXYCODONE_IN, 1, "{tbl}", 4, "strength is unknown"),  # ingredient code, count dose
    ],
)
def test_unusable_sigs_are_not_computed(code, dose, unit, per_day, problem_word):
    result = order_mme(make_order(code, dose, unit, per_day))
    assert result.status is MmeStatus.NOT_COMPUTED
    assert result.problem
    assert problem_word in result.problem
    assert result.mme_per_day is None


def test_order_problem_from_normaliser_is_reported():
    result = order_mme(
        make_order(c.OXYCODONE_5_TAB, 1, "{tbl}", 4, problem="sig could not be parsed")
    )
    assert (result.status, result.problem) == (MmeStatus.NOT_COMPUTED, "sig could not be parsed")


def test_ingredient_level_code_with_mg_dose_uses_oral_factor_and_says_so():
    result = order_mme(make_order(c.OXYCODONE_IN, 10, "mg", 3))
    assert result.mme_per_day is not None
    assert result.mme_per_day.value == pytest.approx(45.0)
    assert any("oral factor assumed" in n for n in result.notes)


def test_ingredient_level_fentanyl_is_not_computed():
    assert order_mme(make_order(c.FENTANYL_IN, 25, "mcg", 1)).status is MmeStatus.NOT_COMPUTED


def test_from_text_and_reference_are_carried():
    order = make_order(
        c.OXYCODONE_5_TAB, 1, "{tbl}", 4, from_text=True, reference="MedicationRequest/abc"
    )
    result = order_mme(order)
    assert result.from_text is True
    assert result.reference == "MedicationRequest/abc"
    assert result.source is OrderSource.REQUEST


def test_dispense_without_sig_uses_cdc_analytic_formula():
    # CDC example: 10 mg oxycodone × (120 tablets / 30 days) × 1.5 = 60 MME/day
    order = make_order(
        rx("1049683"),  # Oxycodone Hydrochloride 10 MG Oral Tablet
        source=OrderSource.DISPENSE,
        quantity=Amount(120, "{tbl}"),
        supply_days=30,
        no_dosage=True,
    )
    result = order_mme(order)
    assert result.mme_per_day is not None
    assert result.mme_per_day.value == pytest.approx(60.0)
    assert any("quantity" in n for n in result.notes)


def test_patch_dispense_without_sig_is_one_patch_at_a_time():
    # CDC example: 25 µg/h × (10 patches / 30 days) × 7.2 = 60 MME/day
    order = make_order(
        c.FENTANYL_25_PATCH,
        source=OrderSource.DISPENSE,
        quantity=Amount(10, "{patch}"),
        supply_days=30,
        no_dosage=True,
    )
    result = order_mme(order)
    assert result.mme_per_day is not None
    assert result.mme_per_day.value == pytest.approx(60.0)


def test_no_dosage_and_no_quantity_is_not_computed():
    result = order_mme(make_order(c.OXYCODONE_5_TAB, no_dosage=True))
    assert result.status is MmeStatus.NOT_COMPUTED
    assert result.problem == "no dosage instructions"


# --- low-level function ---------------------------------------------------------------------


def test_calculate_mme_low_level_patch_ignores_interval():
    strength = Strength(0.075, StrengthUnit.MG_PER_HOUR)
    values = {
        calculate_mme(
            ingredient_rxcui=c.FENTANYL_IN,
            form=FormKind.TRANSDERMAL,
            strength=strength,
            dose=Amount(1, "{patch}"),
            doses_per_day=per_day,
            interval_days=interval,
        ).mme_per_day
        for per_day, interval in [(1 / 3, 3.0), (0.5, 2.0), (1.0, 1.0)]
    }
    assert len(values) == 1
    (value,) = values
    assert value is not None
    assert value.rounded() == 180.0


def test_calculate_mme_keeps_full_precision():
    result = calculate_mme(
        ingredient_rxcui=c.CODEINE_IN,
        form=FormKind.ORAL,
        strength=Strength(30, StrengthUnit.MG),
        dose=Amount(1, "{tbl}"),
        doses_per_day=1 / 3,
    )
    assert result.mme_per_day is not None
    assert result.mme_per_day.value == pytest.approx(1.5)
    assert result.mme_per_day.rounded() == 1.5


@pytest.mark.parametrize(
    ("unit", "kind"),
    [("mg", "mass"), ("ug", "mass"), ("µg", "mass"), ("mL", "volume"), ("{tbl}", "count"),
     ("tablets", "count"), ("patches", "count"), (None, "count"), ("1", "count"), ("ug/h", "rate")],
)  # fmt: skip
def test_dose_units(unit, kind):
    parsed = dose_unit(unit)
    assert parsed is not None
    assert parsed[0].value == kind


def test_unknown_dose_unit():
    assert dose_unit("furlongs") is None


# --------------------------------------------------------------------------- MOUD


@pytest.mark.parametrize("code", [c.METHADONE_10_TAB, c.METHADONE_1_SOLN])
def test_methadone_for_opioid_use_disorder_is_moud_and_never_counted(code):
    order = make_order(code, 80, "mg", 1)
    assert order_mme(order).status is MmeStatus.COMPUTED  # methadone for pain counts
    result = order_mme(order, for_oud=True)
    assert result.status is MmeStatus.EXCLUDED
    assert result.moud
    assert result.mme_per_day is None
    assert not result.counts
    assert result.problem
    assert "opioid use disorder" in result.problem


@pytest.mark.parametrize("code", [c.METHADONE_40_DISPERSIBLE, ndc(c.NDC_METHADONE_40_DISPERSIBLE)])
def test_methadone_labelled_only_for_oud_is_moud_whatever_the_reason(code):
    result = order_mme(make_order(code, 2, "{tbl}", 1))
    assert (result.status, result.moud) == (MmeStatus.EXCLUDED, True)
    assert result.problem
    assert "labelled only for opioid use disorder" in result.problem


def test_buprenorphine_for_oud_is_moud_and_for_pain_is_not():
    assert order_mme(make_order(c.BUPRENORPHINE_2_SL_TAB, 1, "{tbl}", 3), for_oud=True).moud
    for_pain = order_mme(make_order(c.BUPRENORPHINE_35_PATCH, 1, "{patch}", None))
    assert (for_pain.status, for_pain.moud) == (MmeStatus.EXCLUDED, False)


def test_a_full_agonist_with_an_oud_reason_still_counts():
    result = order_mme(make_order(c.OXYCODONE_5_TAB, 10, "mg", 3), for_oud=True)
    assert (result.status, result.moud) == (MmeStatus.COMPUTED, False)


def test_uncoded_methadone_for_oud_is_moud_not_missing_data():
    order = make_order(None, 1, "{tbl}", 1, text="methadone 10 mg tablet")
    assert order_mme(order).status is MmeStatus.NOT_COMPUTED
    result = order_mme(order, for_oud=True)
    assert (result.status, result.moud) == (MmeStatus.EXCLUDED, True)
