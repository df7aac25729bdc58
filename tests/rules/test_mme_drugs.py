"""Drug knowledge: RxNorm and NDC lookups, ingredient codes, combination products, speed."""

from __future__ import annotations

import time

import pytest

from rules.mme import (
    FormKind,
    StrengthUnit,
    lookup_ndc,
    lookup_rxnorm,
    normalize_ndc,
    resolve_product,
)
from rules.mme.drugs import ingredient_named_in, load_drug_tables, ndc_table
from tests.rules import codes as c
from tests.rules.codes import ndc, rx


def test_rxnorm_product():
    p = lookup_rxnorm(c.OXYCODONE_ER_10_TAB)
    assert p is not None
    assert (p.ingredient.name, p.ingredient.rxcui) == ("oxycodone", c.OXYCODONE_IN)
    assert p.strength is not None
    assert (p.strength.value, p.strength.unit) == (10.0, StrengthUnit.MG)
    assert p.dose_form is not None
    assert (p.dose_form.rxcui, p.dose_form.kind) == ("316945", FormKind.ORAL)


def test_combination_product_counts_only_the_opioid():
    p = lookup_rxnorm(c.HYDROCODONE_5_APAP_325_TAB)
    assert p is not None
    assert p.ingredient.name == "hydrocodone"
    assert p.strength is not None
    assert p.strength.value == 5.0


def test_synthea_833036_is_hydrocodone():
    p = lookup_rxnorm(c.HYDROCODONE_7_5_APAP_750_TAB)
    assert p is not None
    assert p.ingredient.name == "hydrocodone"
    assert p.strength is not None
    assert p.strength.value == 7.5


def test_ingredient_level_rxcui_has_unknown_strength():
    p = lookup_rxnorm(c.OXYCODONE_IN)
    assert p is not None
    assert p.ingredient.name == "oxycodone"
    assert p.strength is None
    assert p.dose_form is None


def test_extra_codes_come_from_the_second_omtk_table():
    p = lookup_rxnorm(c.TRAMADOL_5_SOLN)
    assert p is not None
    assert p.source == "omtk-mme-r4-3.0.0"


def test_patch_strength_is_per_hour():
    p = lookup_rxnorm(c.FENTANYL_75_PATCH)
    assert p is not None
    assert p.strength is not None
    assert (p.strength.value, p.strength.unit) == (0.075, StrengthUnit.MG_PER_HOUR)


def test_unknown_rxcui():
    assert lookup_rxnorm(c.LISINOPRIL_10_TAB) is None


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("16590078405", "16590078405"),
        ("16590-0784-05", "16590078405"),
        ("0093-0058-01", "00093005801"),  # 4-4-2
        ("54868-320-09", "54868032009"),  # 5-3-2
        ("12345-6789-1", "12345678901"),  # 5-4-1
        ("0093005801", None),  # unhyphenated 10 digits: ambiguous
        ("not an ndc", None),
    ],
)
def test_normalize_ndc(written, expected):
    assert normalize_ndc(written) == expected


def test_ndc_product_is_mapped_onto_rxnorm_dose_forms():
    patch = lookup_ndc(c.NDC_DURAGESIC_75)
    assert patch is not None
    assert patch.dose_form is not None
    assert patch.strength is not None
    assert (patch.ingredient.name, patch.dose_form.rxcui) == ("fentanyl", "316987")
    assert (patch.strength.value, patch.strength.unit) == (0.075, StrengthUnit.MG_PER_HOUR)
    spray = lookup_ndc(c.NDC_LAZANDA_100)
    assert spray is not None
    assert spray.dose_form is not None
    assert spray.dose_form.kind is FormKind.NASAL_SPRAY


def test_ndc_and_rxnorm_products_share_formulation_keys():
    by_ndc = lookup_ndc(c.NDC_METHADONE_10)
    by_rx = lookup_rxnorm(c.METHADONE_10_TAB)
    assert by_ndc is not None
    assert by_rx is not None
    assert by_ndc.formulation == by_rx.formulation


def test_resolve_prefers_rxnorm_then_ndc():
    assert resolve_product([ndc(c.NDC_TRAMADOL_50)]).ingredient.name == "tramadol"  # type: ignore[union-attr]
    both = resolve_product([ndc(c.NDC_TRAMADOL_50), rx(c.MORPHINE_15_TAB)])
    assert both is not None
    assert both.ingredient.name == "morphine"
    fallback = resolve_product([rx("0000000"), ndc(c.NDC_TRAMADOL_50)])
    assert fallback is not None
    assert fallback.ingredient.name == "tramadol"


def test_ingredient_named_in_text():
    found = ingredient_named_in(None, "Percocet (oxycodone/APAP)")
    assert found is not None
    assert found.name == "oxycodone"
    assert ingredient_named_in("dihydrocodeine 16 mg") is not None
    assert ingredient_named_in("dihydrocodeine 16 mg").name == "dihydrocodeine"  # type: ignore[union-attr]
    assert ingredient_named_in("lisinopril 10 mg", None) is None


def test_tables_load_fast():
    load_drug_tables.cache_clear()
    ndc_table.cache_clear()
    t0 = time.perf_counter()
    load_drug_tables()
    ndc_table()
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.1
    assert len(load_drug_tables().rxnorm) > 1100
    assert len(ndc_table()) > 14000
