"""The factor table: 2022 values, exclusions, analytic flags, and validation at load."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from rules.mme import FormKind, load_factor_table, parse_factor_table
from rules.mme.factors import FACTORS_FILE
from tests.rules import codes as c

CDC_2022 = {
    c.CODEINE_IN: 0.15,
    c.HYDROCODONE_IN: 1.0,
    c.HYDROMORPHONE_IN: 5.0,
    c.METHADONE_IN: 4.7,
    c.MORPHINE_IN: 1.0,
    c.OXYCODONE_IN: 1.5,
    c.OXYMORPHONE_IN: 3.0,
    c.TAPENTADOL_IN: 0.4,
    c.TRAMADOL_IN: 0.2,
}


def test_version_and_sources_are_present():
    table = load_factor_table()
    assert table.version
    assert set(table.sources) == {"cdc-2022", "cdc-2018-analytic"}
    assert all(f.source in table.sources for f in table.factors)


@pytest.mark.parametrize(("rxcui", "factor"), sorted(CDC_2022.items()))
def test_2022_oral_factors(rxcui, factor):
    entry = load_factor_table().factor_for(rxcui, FormKind.ORAL)
    assert entry is not None
    assert (entry.factor, entry.per, entry.source, entry.analytic) == (
        factor,
        "mg",
        "cdc-2022",
        False,
    )


def test_fentanyl_patch_is_2_4_per_mcg_per_hour():
    entry = load_factor_table().factor_for(c.FENTANYL_IN, FormKind.TRANSDERMAL)
    assert entry is not None
    assert (entry.factor, entry.per, entry.analytic) == (2.4, "mcg/h", False)


def test_no_2016_or_ndc_file_values_for_table_drugs():
    table = load_factor_table()
    for f in table.factors:
        if f.rxcui == c.HYDROMORPHONE_IN:
            assert f.factor != 4
        if f.rxcui == c.METHADONE_IN:
            assert f.factor not in (3, 4, 8, 10, 12)
        if f.rxcui == c.TRAMADOL_IN:
            assert f.factor != 0.1


def test_buprenorphine_is_excluded_with_a_reason():
    table = load_factor_table()
    reason = table.excluded_reason(c.BUPRENORPHINE_IN)
    assert reason
    assert "partial agonist" in reason
    assert not table.forms_for(c.BUPRENORPHINE_IN)


def test_analytic_entries_are_flagged():
    table = load_factor_table()
    analytic = {(f.ingredient, f.factor) for f in table.factors if f.source == "cdc-2018-analytic"}
    assert analytic == {
        ("levorphanol", 11.0), ("meperidine", 0.1), ("pentazocine", 0.37), ("butorphanol", 7.0),
        ("opium", 1.0), ("dihydrocodeine", 0.25), ("fentanyl", 0.13), ("fentanyl", 0.18),
        ("fentanyl", 0.16),
    }  # fmt: skip
    assert all(f.analytic for f in table.factors if f.source == "cdc-2018-analytic")


def test_injectables_have_no_factor_and_a_reason():
    table = load_factor_table()
    assert all(FormKind.INJECTABLE not in f.forms for f in table.factors)
    assert "injectable" in table.form_reasons[FormKind.INJECTABLE]


def _raw() -> dict:
    return yaml.safe_load(FACTORS_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["factors"][0].update(factor=-1),
        lambda d: d["factors"][0].update(source="cdc-2016"),
        lambda d: d["factors"][0].update(forms=["oral", "oral"]),
        lambda d: d["factors"].append(dict(d["factors"][0])),  # duplicate ingredient+form
        lambda d: d["factors"][0].update(per="mg/kg"),
        lambda d: d["factors"][0].update(forms=["teleportation"]),
        lambda d: d["excluded"].append(
            {"ingredient": "morphine", "rxcui": "7052", "reason": "because we say so"}
        ),
        lambda d: d["factors"][0].update(unexpected="field"),
        lambda d: d.pop("version"),
        lambda d: d["factors"][0].update(per="mcg/h"),  # per-hour factor on an oral entry
        lambda d: d["moud"].update(source="somewhere"),
        lambda d: d["moud"]["oud_only_dose_forms"][0].update(rxcui="7052"),  # not MOUD
        lambda d: d["moud"].update(ingredients=[]),
    ],
)
def test_malformed_tables_are_refused(breakage):
    data = _raw()
    breakage(data)
    with pytest.raises(ValidationError):
        parse_factor_table(yaml.safe_dump(data))


def test_shipped_file_round_trips():
    assert parse_factor_table(yaml.safe_dump(_raw())) == load_factor_table()
