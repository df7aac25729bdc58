"""Drug knowledge: which opioid, how strong, in what dose form, for an RxNorm or NDC code.

Built from the CQF OMTK tables (RxNorm) and the CDC 2018 NDC file, reduced by
``rules/data/mme/build_tables.py`` to compact files in ``rules/data/mme/``. Only the
opioid ingredient of a combination product is listed (hydrocodone/APAP counts as
hydrocodone), which is exactly what MME needs. We trust the code over its display text:
Synthea labels RxCUI 833036 "Captopril", but in RxNorm it is APAP 750 mg / hydrocodone
7.5 mg, and a CDS service must not second-guess a coded opioid.

Tables are read once per process (about 30 ms for everything) and looked up in O(1).
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from rules.mme.factors import DATA_DIR, FormKind
from rules.timeline import NDC, RXNORM, Code

RXNORM_PRODUCTS_FILE = DATA_DIR / "rxnorm_products.csv"
NDC_PRODUCTS_FILE = DATA_DIR / "ndc_products.csv.gz"
VALUE_SET_OPIOIDS_FILE = DATA_DIR / "opioid_codes_without_strength.csv"


class StrengthUnit(StrEnum):
    """Strength units as RxNorm writes them; NDC strengths are converted to these (mg based)."""

    MG = "MG"  # per tablet, capsule, suppository, lozenge, film
    MG_PER_ML = "MG/ML"
    MG_PER_HOUR = "MG/HR"  # patches
    MG_PER_ACTUATION = "MG/ACTUAT"  # sprays


@dataclass(frozen=True, slots=True)
class Strength:
    value: float
    unit: StrengthUnit


@dataclass(frozen=True, slots=True)
class Ingredient:
    rxcui: str
    name: str  # lower case, e.g. "oxycodone"


@dataclass(frozen=True, slots=True)
class DoseForm:
    """An RxNorm dose form (NDC products are mapped onto RxNorm dose forms) and its route class."""

    rxcui: str
    name: str
    kind: FormKind


@dataclass(frozen=True, slots=True)
class Product:
    """What one code means for MME.

    ``strength`` and ``dose_form`` are ``None`` for an ingredient-level RxCUI (7804
    oxycodone): the dose must then be given in mg for the MME to be computed.
    """

    system: str
    code: str
    name: str
    ingredient: Ingredient
    strength: Strength | None
    dose_form: DoseForm | None
    source: str

    @property
    def formulation(self) -> tuple[str, str | None]:
        """Ingredient + dose form: orders with the same key supersede each other."""
        return (self.ingredient.rxcui, self.dose_form.rxcui if self.dose_form else None)


@dataclass(frozen=True, slots=True)
class UnsupportedOpioid:
    """An opioid code (CDC value sets) with no strength data: recognised but not computable."""

    system: str
    code: str
    name: str
    ingredient: Ingredient | None
    value_set: str


def _parse_products(rows: Iterable[dict[str, str]], system: str) -> Iterator[Product]:
    forms: dict[tuple[str, str], DoseForm] = {}
    ingredients: dict[str, Ingredient] = {}
    for row in rows:
        form_key = (row["dose_form_rxcui"], row["form_kind"])
        form = forms.get(form_key)
        if form is None:
            form = DoseForm(
                row["dose_form_rxcui"], row["dose_form_name"], FormKind(row["form_kind"])
            )
            forms[form_key] = form
        ingredient = ingredients.get(row["ingredient_rxcui"])
        if ingredient is None:
            ingredient = Ingredient(row["ingredient_rxcui"], row["ingredient_name"])
            ingredients[ingredient.rxcui] = ingredient
        strength = (
            Strength(float(row["strength_value"]), StrengthUnit(row["strength_unit"]))
            if row["strength_value"]
            else None
        )
        yield Product(
            system=system,
            code=row["code"],
            name=row["name"],
            ingredient=ingredient,
            strength=strength,
            dose_form=form,
            source=row["source"],
        )


@dataclass(frozen=True, slots=True)
class DrugTables:
    """All code lookups, keyed by exact code string."""

    rxnorm: dict[str, Product]
    ingredients: dict[str, Product]  # ingredient-level RxCUI -> product with no strength
    unsupported: dict[str, UnsupportedOpioid]
    ingredient_by_name: dict[str, Ingredient]


@cache
def load_drug_tables() -> DrugTables:
    """RxNorm tables, read once per process (the NDC table loads lazily, see :func:`ndc_table`)."""
    with RXNORM_PRODUCTS_FILE.open(newline="", encoding="utf-8") as fh:
        products = {p.code: p for p in _parse_products(csv.DictReader(fh), RXNORM)}
    ingredients: dict[str, Product] = {}
    by_name: dict[str, Ingredient] = {}
    for p in products.values():
        ing = p.ingredient
        if ing.rxcui not in ingredients:
            ingredients[ing.rxcui] = Product(
                RXNORM, ing.rxcui, ing.name, ing, None, None, "ingredient"
            )
            by_name[ing.name] = ing
    unsupported: dict[str, UnsupportedOpioid] = {}
    with VALUE_SET_OPIOIDS_FILE.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            vs_ing = (
                Ingredient(row["ingredient_rxcui"], row["ingredient_name"])
                if row["ingredient_rxcui"]
                else None
            )
            unsupported[row["code"]] = UnsupportedOpioid(
                RXNORM, row["code"], row["display"], vs_ing, row["value_set"]
            )
    return DrugTables(products, ingredients, unsupported, by_name)


@cache
def ndc_table() -> dict[str, str]:
    """CDC 2018 NDC rows keyed by 11-digit NDC, as raw CSV lines.

    Loaded on the first NDC lookup only, and parsed row by row on demand: turning all
    14,549 rows into objects up front would cost more than every other table together.
    """
    with gzip.open(NDC_PRODUCTS_FILE, "rt", encoding="utf-8", newline="") as fh:
        lines = fh.read().splitlines()
    header = lines[0].split(",")
    if header[0] != "code":
        raise ValueError(f"{NDC_PRODUCTS_FILE.name}: unexpected header {header}")
    return {line[:11]: line for line in lines[1:]}


@cache
def _ndc_product(ndc11: str) -> Product | None:
    line = ndc_table().get(ndc11)
    if line is None:
        return None
    row = dict(zip(PRODUCT_COLUMNS, next(csv.reader([line])), strict=True))
    return next(_parse_products([row], NDC))


#: The columns of the shipped product tables (written by rules/data/mme/build_tables.py).
PRODUCT_COLUMNS = (
    "code",
    "name",
    "dose_form_rxcui",
    "dose_form_name",
    "form_kind",
    "ingredient_rxcui",
    "ingredient_name",
    "strength_value",
    "strength_unit",
    "source",
)
_NDC_SEGMENTS = re.compile(r"^(\d{4,5})-(\d{3,4})-(\d{1,2})$")


def normalize_ndc(value: str) -> str | None:
    """The 11-digit (5-4-2) NDC for a written NDC, or ``None`` if it cannot be known.

    Hyphenated 10-digit NDCs (4-4-2, 5-3-2, 5-4-1) are padded in the segment that is
    short. An unhyphenated 10-digit NDC is ambiguous and refused rather than guessed.
    """
    text = value.strip().replace(" ", "")
    if text.isdigit():
        return text if len(text) == 11 else None
    match = _NDC_SEGMENTS.match(text)
    if match is None:
        return None
    labeler, product, package = match.groups()
    if len(labeler) + len(product) + len(package) not in (10, 11):
        return None
    return labeler.zfill(5) + product.zfill(4) + package.zfill(2)


def lookup_rxnorm(rxcui: str) -> Product | None:
    """A drug (SCD/SBD/pack) or ingredient-level RxCUI; ``None`` if not an opioid we know."""
    tables = load_drug_tables()
    code = rxcui.strip()
    return tables.rxnorm.get(code) or tables.ingredients.get(code)


def lookup_ndc(ndc: str) -> Product | None:
    """An opioid NDC from the CDC 2018 file; ``None`` if unknown or not normalisable."""
    normalised = normalize_ndc(ndc)
    return _ndc_product(normalised) if normalised else None


def resolve_product(codes: Iterable[Code]) -> Product | None:
    """The product for an order's codes: any RxNorm coding first, then any NDC coding."""
    codes = tuple(codes)
    for c in codes:
        if c.system == RXNORM:
            product = lookup_rxnorm(c.code)
            if product is not None:
                return product
    for c in codes:
        if c.system == NDC:
            product = lookup_ndc(c.code)
            if product is not None:
                return product
    return None


def resolve_unsupported(codes: Iterable[Code]) -> UnsupportedOpioid | None:
    """An opioid RxCUI from the CDC value sets that has no strength data."""
    unsupported = load_drug_tables().unsupported
    for c in codes:
        if c.system == RXNORM and c.code.strip() in unsupported:
            return unsupported[c.code.strip()]
    return None


_WORD = re.compile(r"[a-z]+")


def ingredient_named_in(*texts: str | None) -> Ingredient | None:
    """An opioid ingredient named in free text (display, order text), else ``None``.

    Used only to tell an uncoded or unknown-coded opioid (not computed: MME incomplete)
    from a non-opioid (ignored). It never supplies a strength.
    """
    by_name = load_drug_tables().ingredient_by_name
    for text in texts:
        if not text:
            continue
        for word in _WORD.findall(text.lower()):
            ingredient = by_name.get(word)
            if ingredient is not None:
                return ingredient
    return None
