"""Properties of the engine that must hold for any dose: never negative, additive across
independent orders, monotonic in dose."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.mme import MmeStatus, mme_timeline, order_mme
from tests.rules import codes as c
from tests.rules.codes import make_order

AS_OF = date(2025, 6, 30)

# One product per ingredient, so that orders never supersede each other.
PRODUCTS = [
    (c.CODEINE_30_APAP_300_TAB, "{tbl}"),
    (c.HYDROCODONE_5_APAP_325_TAB, "{tbl}"),
    (c.HYDROMORPHONE_1_SOLN, "mL"),
    (c.METHADONE_10_TAB, "mg"),
    (c.MORPHINE_4_SOLN, "mL"),
    (c.OXYCODONE_5_TAB, "{tbl}"),
    (c.OXYMORPHONE_5_TAB, "mg"),
    (c.TAPENTADOL_50_TAB, "{tbl}"),
    (c.TRAMADOL_50_TAB, "mg"),
    (c.FENTANYL_25_PATCH, "{patch}"),
]

doses = st.floats(min_value=0, max_value=500, allow_nan=False, allow_infinity=False)
per_day = st.floats(min_value=0.01, max_value=24, allow_nan=False, allow_infinity=False)
units = st.sampled_from(["mg", "ug", "mL", "{tbl}", "{patch}", None, "1", "spray", "g"])
products = st.sampled_from(PRODUCTS)


@given(product=products, dose=doses, unit=units, n=per_day, prn=st.booleans())
def test_mme_is_never_negative(product, dose, unit, n, prn):
    result = order_mme(make_order(product[0], dose, unit, n, as_needed=prn))
    if result.mme_per_day is not None:
        assert result.mme_per_day.value >= 0
    else:
        assert result.status is not MmeStatus.COMPUTED


@given(product=products, dose=doses, extra=doses, n=per_day)
def test_mme_is_monotonic_in_dose(product, dose, extra, n):
    code, unit = product
    low = order_mme(make_order(code, dose, unit, n)).mme_per_day
    high = order_mme(make_order(code, dose + extra, unit, n)).mme_per_day
    assert low is not None
    assert high is not None
    assert high.value >= low.value - 1e-9


@given(product=products, dose=doses, n=per_day, more=per_day)
def test_mme_is_monotonic_in_frequency_except_for_patches(product, dose, n, more):
    code, unit = product
    low = order_mme(make_order(code, dose, unit, n)).mme_per_day
    high = order_mme(make_order(code, dose, unit, n + more)).mme_per_day
    assert low is not None
    assert high is not None
    if code == c.FENTANYL_25_PATCH:
        assert high.value == low.value  # patch MME ignores how often it is changed
    else:
        assert high.value >= low.value - 1e-9


@settings(max_examples=60)
@given(
    picks=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(PRODUCTS) - 1),
            doses,
            per_day,
            st.integers(min_value=0, max_value=400),  # start, days before as_of
            st.integers(min_value=1, max_value=120),  # supply days
        ),
        min_size=1,
        max_size=len(PRODUCTS),
        unique_by=lambda t: t[0],
    )
)
def test_timeline_is_additive_across_ingredients(picks):
    orders = [
        make_order(
            PRODUCTS[i][0],
            dose,
            PRODUCTS[i][1],
            n,
            start=AS_OF - timedelta(days=start),
            supply_days=supply,
            reference=f"MedicationRequest/{i}",
        )
        for i, dose, n, start, supply in picks
    ]
    together = mme_timeline(orders, as_of=AS_OF)
    alone = [mme_timeline([o], as_of=AS_OF) for o in orders]
    for index in range(0, len(together.daily), 7):
        expected = sum(t.daily[index].value for t in alone)
        assert abs(together.daily[index].value - expected) <= 1e-6 * max(1.0, expected)
    expected_today = sum(t.current.value for t in alone)
    assert together.current.value == pytest.approx(expected_today, rel=1e-9, abs=1e-6)
