"""Derive the compact drug tables in this folder from the team's reference copies.

Run by hand when the reference data changes (never at run time, never in tests)::

    .venv/bin/python rules/data/mme/build_tables.py /work/shared/data

It reads the OMTK tables, the CDC 2018 NDC file and the CDC opioid value sets, and
writes ``rxnorm_products.csv``, ``ndc_products.csv.gz`` and ``opioid_codes_without_strength.csv``.
Output is deterministic (sorted rows, fixed gzip mtime) so a rebuild gives no diff.
See ``PROVENANCE.md`` for what each step does and why.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections import defaultdict
from pathlib import Path

from rules.mme.drugs import PRODUCT_COLUMNS

HERE = Path(__file__).resolve().parent
OMTK_PRIMARY = "mme/omtk_drug_ingredients_opioid-cds-r4_OMTKData2020.csv"
OMTK_EXTRA = "mme/omtk_drug_ingredients_opioid-mme-r4_v3.0.0_2020-10-20.csv"
NDC_FILE = "mme/cdc_mme_2018_opioids_ndc.csv"
VALUE_SETS = (
    "valuesets/opioid-cds-r4/opioid-analgesics-with-ambulatory-misuse-potential.json",
    "valuesets/opioid-cds-r4/buprenorphine-medications.json",
    "valuesets/opioid-cds-r4/methadone-medications.json",
    "valuesets/opioid-cds-r4/fentanyl-type-medications.json",
    "valuesets/opioid-cds-r4/oxycodone-medications.json",
)

# RxNorm dose form -> the coarse route class the factor table is keyed by.
FORM_KIND_BY_RXNORM_FORM: dict[str, str] = {
    "317541": "oral",  # Oral Tablet
    "316945": "oral",  # Extended Release Oral Tablet
    "316943": "oral",  # Extended Release Oral Capsule
    "316965": "oral",  # Oral Capsule
    "316968": "oral",  # Oral Solution
    "316969": "oral",  # Oral Suspension
    "316946": "oral",  # Extended Release Suspension
    "1861409": "oral",  # Tablet for Oral Suspension
    "1535727": "oral",  # Effervescent Oral Tablet
    "316942": "oral",  # Disintegrating Oral Tablet
    "316978": "rectal",  # Rectal Suppository
    "316987": "transdermal",  # Transdermal System
    "317007": "transmucosal_tablet",  # Sublingual Tablet
    "970789": "transmucosal_tablet",  # Buccal Tablet
    "316992": "transmucosal_tablet",  # Oral Lozenge
    "858080": "transmucosal_film_or_oral_spray",  # Buccal Film
    "704866": "transmucosal_film_or_oral_spray",  # Oral Strip
    "2269578": "transmucosal_film_or_oral_spray",  # Sublingual Film
    "346163": "transmucosal_film_or_oral_spray",  # Mucosal Spray (Subsys, sublingual)
    "126542": "nasal_spray",  # Nasal Spray
    "1797831": "nasal_spray",  # Metered Dose Nasal Spray
    "1649574": "injectable",  # Injection
    "316949": "injectable",  # Injectable Solution
    "316950": "injectable",  # Injectable Suspension
    "1649572": "injectable",  # Cartridge
    "721656": "injectable",  # Prefilled Syringe
    "1649570": "injectable",  # Auto-Injector
    "657710": "implant",  # Drug Implant
    "316986": "topical",  # Topical Solution (Recuvyra is a veterinary product)
    "746839": "other",  # Pack: resolved from the drug name below when possible
}

# CDC NDC-file "Master_Form" -> RxNorm dose form (rxcui, name), so that a dispense coded
# by NDC and a request coded by RxNorm share one formulation key (supersession).
RXNORM_FORM_BY_NDC_FORM: dict[str, tuple[str, str]] = {
    "Tablet": ("317541", "Oral Tablet"),
    "Tablet, Extended Release": ("316945", "Extended Release Oral Tablet"),
    "Capsule": ("316965", "Oral Capsule"),
    "Capsule, Extended Release": ("316943", "Extended Release Oral Capsule"),
    "Capsule, Extended Release, 24": ("316943", "Extended Release Oral Capsule"),
    "Solution": ("316968", "Oral Solution"),
    "Liquid": ("316968", "Oral Solution"),
    "Syrup": ("316968", "Oral Solution"),
    "Suspension": ("316969", "Oral Suspension"),
    "Tablet for Suspension": ("1861409", "Tablet for Oral Suspension"),
    "Tablet, Disintegrating": ("316942", "Disintegrating Oral Tablet"),
    "Suppository": ("316978", "Rectal Suppository"),
    "Patch, Extended Release": ("316987", "Transdermal System"),
    "Lozenge/Troche": ("316992", "Oral Lozenge"),
    "Film": ("858080", "Buccal Film"),
    "Spray": ("126542", "Nasal Spray"),
    "Implant": ("657710", "Drug Implant"),
    "Extended Release Subcutaneous": ("316950", "Injectable Suspension"),
}

# Product-name overrides where the NDC file's form is ambiguous.
NDC_FORM_BY_PRODUCT: dict[str, tuple[str, str]] = {
    "ABSTRAL": ("317007", "Sublingual Tablet"),
    "FENTORA": ("970789", "Buccal Tablet"),
    "SUBSYS": ("346163", "Mucosal Spray"),
    "SUBOXONE": ("2269578", "Sublingual Film"),
    "BUNAVAIL": ("858080", "Buccal Film"),
    "BELBUCA": ("858080", "Buccal Film"),
}

# CDC NDC-file "Drug" -> RxNorm ingredient (rxcui, name).
INGREDIENT_BY_NDC_DRUG: dict[str, tuple[str, str]] = {
    "Buprenorphine": ("1819", "buprenorphine"),
    "Butorphanol": ("1841", "butorphanol"),
    "Codeine": ("2670", "codeine"),
    "Dihydrocodeine": ("23088", "dihydrocodeine"),
    "Fentanyl": ("4337", "fentanyl"),
    "Hydrocodone": ("5489", "hydrocodone"),
    "Hydromorphone": ("3423", "hydromorphone"),
    "Levomethadyl": ("237005", "levomethadyl"),
    "Levorphanol": ("6378", "levorphanol"),
    "Meperidine": ("6754", "meperidine"),
    "Methadone": ("6813", "methadone"),
    "Morphine": ("7052", "morphine"),
    "Opium": ("7676", "opium"),
    "Oxycodone": ("7804", "oxycodone"),
    "Oxymorphone": ("7814", "oxymorphone"),
    "Pentazocine": ("8001", "pentazocine"),
    "Propoxyphene": ("8785", "propoxyphene"),
    "Tapentadol": ("787390", "tapentadol"),
    "Tramadol": ("10689", "tramadol"),
}

# RxNorm spells a few value-set ingredients differently from OMTK; the value-set rows
# whose display names none of these get no ingredient (they still count as opioids).
VALUE_SET_INGREDIENT_WORDS = {name for _, name in INGREDIENT_BY_NDC_DRUG.values()} | {
    "benzhydrocodone",
    "sufentanil",
    "heroin",
    "dextromoramide",
    "dipipanone",
    "meptazinol",
    "pholcodine",
    "alfentanil",
    "remifentanil",
}


def _fmt(value: float) -> str:
    """Shortest faithful decimal: keeps the files small and diffs stable."""
    return repr(round(value, 6)).removesuffix(".0")


def _form_kind(dose_form_rxcui: str, drug_name: str) -> str:
    kind = FORM_KIND_BY_RXNORM_FORM.get(dose_form_rxcui)
    if kind is None:
        raise SystemExit(f"unmapped RxNorm dose form {dose_form_rxcui} ({drug_name})")
    if kind == "other" and "Mucosal Spray" in drug_name:
        return "transmucosal_film_or_oral_spray"
    return kind


def _omtk_products(shared: Path) -> list[dict[str, str]]:
    """One row per drug RxCUI: the primary OMTK table wins, the v3.0.0 one adds codes.

    Rows of one drug with the same ingredient and unit are summed (two oxycodone salts
    in one aspirin combination tablet). When a drug has the same ingredient in two units
    (butorphanol 10 MG/ML and 1 MG/ACTUAT; Ionsys 0.04 MG and 0.04 MG/ACTUAT) the
    per-actuation strength is kept, because such products are dosed by actuation.
    """
    by_drug: dict[str, list[dict[str, str]]] = defaultdict(list)
    sources: dict[str, str] = {}
    for rel, label in ((OMTK_PRIMARY, "omtk-cds-r4-2020"), (OMTK_EXTRA, "omtk-mme-r4-3.0.0")):
        rows_here: dict[str, list[dict[str, str]]] = defaultdict(list)
        with (shared / rel).open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rows_here[row["drug_rxcui"]].append(row)
        for rxcui, rows in rows_here.items():
            if rxcui not in by_drug:
                by_drug[rxcui] = rows
                sources[rxcui] = label
    out: list[dict[str, str]] = []
    for rxcui, rows in by_drug.items():
        ingredients = {r["ingredient_rxcui"] for r in rows}
        if len(ingredients) != 1:
            raise SystemExit(f"{rxcui}: several opioid ingredients {ingredients}")
        by_unit: dict[str, float] = defaultdict(float)
        for r in rows:
            by_unit[r["strength_unit"]] += float(r["strength_value"])
        unit = "MG/ACTUAT" if "MG/ACTUAT" in by_unit else next(iter(by_unit))
        if len(by_unit) > 1 and "MG/ACTUAT" not in by_unit:
            raise SystemExit(f"{rxcui}: ambiguous strength units {sorted(by_unit)}")
        first = rows[0]
        out.append(
            {
                "code": rxcui,
                "name": first["drug_name"],
                "dose_form_rxcui": first["dose_form_rxcui"],
                "dose_form_name": first["dose_form_name"],
                "form_kind": _form_kind(first["dose_form_rxcui"], first["drug_name"]),
                "ingredient_rxcui": first["ingredient_rxcui"],
                "ingredient_name": first["ingredient_name"].lower(),
                "strength_value": _fmt(by_unit[unit]),
                "strength_unit": unit,
                "source": sources[rxcui],
            }
        )
    out.sort(key=lambda r: int(r["code"]))
    return out


def _ndc_products(shared: Path) -> list[dict[str, str]]:
    """The CDC 2018 NDC file reduced to what the engine needs, strengths in mg."""
    unit_scale = {
        "MG": ("MG", 1.0),
        "MG/ML": ("MG/ML", 1.0),
        "MCG": ("MG", 0.001),
        "MCG/HR": ("MG/HR", 0.001),
        "MCG/SPRAY": ("MG/ACTUAT", 0.001),
    }
    out: list[dict[str, str]] = []
    with (shared / NDC_FILE).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            drug = row["Drug"].removesuffix(" SA").removesuffix(" LA")
            ing_rxcui, ing_name = INGREDIENT_BY_NDC_DRUG[drug]
            product = row["PRODNME"].strip()
            form_rxcui, form_name = NDC_FORM_BY_PRODUCT.get(
                product, RXNORM_FORM_BY_NDC_FORM[row["Master_Form"]]
            )
            if drug == "Buprenorphine" and row["Master_Form"] == "Tablet":
                form_rxcui, form_name = "317007", "Sublingual Tablet"
            kind = _form_kind(form_rxcui, product)
            value, unit = row["Strength_Per_Unit"], row["UOM"]
            if product == "IONSYS":
                # Iontophoretic 40 mcg per activation, not a 40 mcg/h patch (the file's
                # 7.2 factor is wrong for it): keep it per actuation so it is not computed.
                unit = "MCG/SPRAY"
            if value and unit:
                canonical, scale = unit_scale[unit]
                strength_value, strength_unit = _fmt(float(value) * scale), canonical
            else:
                strength_value, strength_unit = "", ""
            out.append(
                {
                    "code": row["NDC"],
                    "name": product.title(),
                    "dose_form_rxcui": form_rxcui,
                    "dose_form_name": form_name,
                    "form_kind": kind,
                    "ingredient_rxcui": ing_rxcui,
                    "ingredient_name": ing_name,
                    "strength_value": strength_value,
                    "strength_unit": strength_unit,
                    "source": "cdc-ndc-2018",
                }
            )
    out.sort(key=lambda r: r["code"])
    return out


def _value_set_opioids(shared: Path, known: set[str]) -> list[dict[str, str]]:
    """Opioid RxCUIs the CDC value sets list but OMTK gives no strength for."""
    ingredient_rxcui = {name: rxcui for rxcui, name in INGREDIENT_BY_NDC_DRUG.values()}
    rows: dict[str, dict[str, str]] = {}
    for rel in VALUE_SETS:
        data = json.loads((shared / rel).read_text(encoding="utf-8"))
        vs_name = rel.rsplit("/", 1)[-1].removesuffix(".json")
        for c in data["expansion"]["contains"]:
            code = c["code"]
            if code in known or code in rows:
                continue
            display = c.get("display", "")
            words = display.lower().replace("/", " ").split()
            found = sorted(w for w in VALUE_SET_INGREDIENT_WORDS if w in words)
            name = found[0] if len(found) == 1 else ""
            rows[code] = {
                "code": code,
                "display": display,
                "ingredient_rxcui": ingredient_rxcui.get(name, ""),
                "ingredient_name": name,
                "value_set": vs_name,
            }
    return sorted(rows.values(), key=lambda r: int(r["code"]))


def _write_csv(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def main(shared: Path) -> None:
    rx = _omtk_products(shared)
    (HERE / "rxnorm_products.csv").write_text(_write_csv(rx, PRODUCT_COLUMNS), encoding="utf-8")
    ndc = _ndc_products(shared)
    payload = _write_csv(ndc, PRODUCT_COLUMNS).encode("utf-8")
    with (
        (HERE / "ndc_products.csv.gz").open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(payload)
    vs = _value_set_opioids(shared, {r["code"] for r in rx})
    columns = ("code", "display", "ingredient_rxcui", "ingredient_name", "value_set")
    (HERE / "opioid_codes_without_strength.csv").write_text(
        _write_csv(vs, columns), encoding="utf-8"
    )
    print(f"rxnorm products: {len(rx)}, ndc products: {len(ndc)}, value-set-only codes: {len(vs)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[3] / "shared" / "data")
