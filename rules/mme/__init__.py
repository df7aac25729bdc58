"""MME engine: daily morphine milligram equivalents from opioid orders (CDC 2022, D1).

Layers, each usable alone:

* :mod:`rules.mme.factors` — the versioned CDC factor table (data file, validated);
* :mod:`rules.mme.drugs` — RxNorm/NDC code → opioid ingredient, strength, dose form;
* :mod:`rules.mme.calculate` — one order's MME (:func:`calculate_mme`, :func:`order_mme`);
* :mod:`rules.mme.exposure` — the per-day timeline, ``current``, ``projected``, ``complete``.
"""

from rules.mme.calculate import (
    DailyDose,
    DoseUnitKind,
    MmeCalculation,
    MmeStatus,
    OrderMme,
    calculate_mme,
    dose_unit,
    ingredient_mg,
    order_mme,
)
from rules.mme.drugs import (
    DoseForm,
    Ingredient,
    Product,
    Strength,
    StrengthUnit,
    UnsupportedOpioid,
    load_drug_tables,
    lookup_ndc,
    lookup_rxnorm,
    normalize_ndc,
    resolve_product,
)
from rules.mme.exposure import (
    DEFAULT_EXPOSURE_CONFIG,
    DurationBasis,
    ExposureConfig,
    MmeTimeline,
    OrderExposure,
    mme_timeline,
    patient_mme,
)
from rules.mme.factors import (
    ConversionFactor,
    FactorTable,
    FormKind,
    load_factor_table,
    parse_factor_table,
)

__all__ = [
    "DEFAULT_EXPOSURE_CONFIG",
    "ConversionFactor",
    "DailyDose",
    "DoseForm",
    "DoseUnitKind",
    "DurationBasis",
    "ExposureConfig",
    "FactorTable",
    "FormKind",
    "Ingredient",
    "MmeCalculation",
    "MmeStatus",
    "MmeTimeline",
    "OrderExposure",
    "OrderMme",
    "Product",
    "Strength",
    "StrengthUnit",
    "UnsupportedOpioid",
    "calculate_mme",
    "dose_unit",
    "ingredient_mg",
    "load_drug_tables",
    "load_factor_table",
    "lookup_ndc",
    "lookup_rxnorm",
    "mme_timeline",
    "normalize_ndc",
    "order_mme",
    "parse_factor_table",
    "patient_mme",
    "resolve_product",
]
