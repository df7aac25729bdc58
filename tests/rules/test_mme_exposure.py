"""The daily MME timeline: durations, supersession, stops, dispenses, drafts, lookback."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from rules.mme import DurationBasis, ExposureConfig, MmeStatus, mme_timeline, patient_mme
from rules.timeline import Amount, OrderSource, PatientTimeline
from tests.rules import codes as c
from tests.rules.codes import make_order, ndc, rx

AS_OF = date(2025, 6, 30)


def d(days_before_as_of: int) -> date:
    return AS_OF - timedelta(days=days_before_as_of)


def oxy(start: date | None, tabs_per_day: float = 4, **kw):
    """Oxycodone 5 mg, 1 tablet × tabs_per_day = 7.5 MME per tablet a day."""
    return make_order(c.OXYCODONE_5_TAB, 1, "{tbl}", tabs_per_day, start=start, **kw)


def test_supply_days_sets_the_covered_days():
    result = mme_timeline([oxy(d(20), supply_days=10)], as_of=AS_OF)
    assert result.on(d(21)).value == 0
    assert result.on(d(20)).value == pytest.approx(30.0)
    assert result.on(d(11)).value == pytest.approx(30.0)  # 10th day
    assert result.on(d(10)).value == 0
    (order,) = result.orders
    assert (order.start, order.end, order.duration_basis) == (
        d(20),
        d(11),
        DurationBasis.SUPPLY_DAYS,
    )
    assert result.current.value == 0


def test_quantity_divided_by_daily_use_gives_duration():
    # 60 tablets at 4/day = 15 days
    result = mme_timeline([oxy(d(20), quantity=Amount(60, "{tbl}"))], as_of=AS_OF)
    (order,) = result.orders
    assert order.duration_basis is DurationBasis.QUANTITY
    assert order.duration_days == pytest.approx(15.0)
    assert order.end == d(6)


def test_quantity_in_tablets_with_dose_in_mg():
    # 10 mg (two 5 mg tablets) twice a day: 4 tablets a day, 40 tablets = 10 days
    order = make_order(c.OXYCODONE_5_TAB, 10, "mg", 2, start=d(30), quantity=Amount(40, "{tbl}"))
    (exposure,) = mme_timeline([order], as_of=AS_OF).orders
    assert exposure.duration_days == pytest.approx(10.0)


def test_patch_quantity_duration_uses_change_interval():
    order = make_order(
        c.FENTANYL_25_PATCH,
        1,
        "{patch}",
        None,
        interval_days=3,
        start=d(40),
        quantity=Amount(10, "{patch}"),
    )
    result = mme_timeline([order], as_of=AS_OF)
    (exposure,) = result.orders
    assert exposure.duration_days == pytest.approx(30.0)
    assert result.on(d(40)).value == pytest.approx(60.0)
    assert result.on(d(11)).value == pytest.approx(60.0)
    assert result.on(d(10)).value == 0


def test_default_duration_is_configurable_and_reported():
    config = ExposureConfig(default_duration_days=7)
    result = mme_timeline([oxy(d(10))], as_of=AS_OF, config=config)
    (order,) = result.orders
    assert order.duration_basis is DurationBasis.DEFAULT
    assert order.end == d(4)
    assert any("7 days assumed" in n for n in order.notes)


def test_order_is_truncated_at_its_end():
    result = mme_timeline([oxy(d(20), supply_days=30, end=d(15))], as_of=AS_OF)
    assert result.on(d(15)).value == pytest.approx(30.0)
    assert result.on(d(14)).value == 0


def test_stopped_order_ends_at_end_date():
    order = oxy(d(20), supply_days=30, status="stopped", end=d(18))
    result = mme_timeline([order], as_of=AS_OF)
    assert result.orders[0].end == d(18)
    assert result.current.value == 0


def test_stopped_order_without_end_counts_full_duration_and_says_so():
    result = mme_timeline([oxy(d(5), supply_days=30, status="stopped")], as_of=AS_OF)
    assert result.current.value == pytest.approx(30.0)
    assert any("stopped" in n for n in result.orders[0].notes)


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "draft"])
def test_ignored_statuses(status):
    result = mme_timeline([oxy(d(5), supply_days=30, status=status)], as_of=AS_OF)
    assert result.current.value == 0
    assert result.orders[0].ignored == f"status {status}"
    assert result.complete


def test_same_ingredient_and_form_supersedes_instead_of_adding():
    first = oxy(d(40), 4, supply_days=30, reference="MedicationRequest/a")
    early_refill = oxy(d(20), 6, supply_days=30, reference="MedicationRequest/b")
    result = mme_timeline([early_refill, first], as_of=AS_OF)
    assert result.on(d(21)).value == pytest.approx(30.0)
    assert result.on(d(20)).value == pytest.approx(45.0)  # not 75
    assert result.current.value == pytest.approx(45.0)  # b covers d(20) .. d(20) + 29 days
    by_ref = {o.mme.reference: o for o in result.orders}
    assert by_ref["MedicationRequest/a"].superseded_by == "MedicationRequest/b"
    assert by_ref["MedicationRequest/a"].end == d(21)


def test_different_formulations_add_up():
    er = make_order(c.OXYCODONE_ER_10_TAB, 10, "mg", 2, start=d(10), supply_days=30)
    ir = oxy(d(10), 4, supply_days=30)
    result = mme_timeline([er, ir], as_of=AS_OF)
    assert result.current.value == pytest.approx(60.0)
    assert all(o.superseded_by is None for o in result.orders)


def test_dispense_supersedes_its_request_from_the_handover_day():
    request = oxy(d(30), 4, supply_days=30, reference="MedicationRequest/r")
    dispense = make_order(
        ndc("00406055262"),  # oxycodone 5 mg tablets, CDC NDC file
        source=OrderSource.DISPENSE,
        start=d(27),
        supply_days=30,
        quantity=Amount(120, "{tbl}"),
        no_dosage=True,
        reference="MedicationDispense/x",
        status="completed",
    )
    result = mme_timeline([request, dispense], as_of=AS_OF)
    assert result.on(d(28)).value == pytest.approx(30.0)
    assert result.on(d(27)).value == pytest.approx(30.0)  # not 60
    assert result.current.value == pytest.approx(30.0)
    by_ref = {o.mme.reference: o for o in result.orders}
    assert by_ref["MedicationRequest/r"].superseded_by == "MedicationDispense/x"


def test_dispense_uses_quantity_over_days_supply():
    dispense = make_order(
        c.OXYCODONE_5_TAB,
        source=OrderSource.DISPENSE,
        start=d(5),
        supply_days=20,
        quantity=Amount(60, "{tbl}"),
        no_dosage=True,
        status="completed",
    )
    result = mme_timeline([dispense], as_of=AS_OF)
    assert result.current.value == pytest.approx(3 * 5 * 1.5)


def test_drafts_are_projected_and_replace_the_same_formulation():
    active = oxy(d(10), 4, supply_days=30, reference="MedicationRequest/active")
    other = make_order(
        c.MORPHINE_ER_15_TAB,
        1,
        "{tbl}",
        2,
        start=d(10),
        supply_days=30,
        reference="MedicationRequest/m",
    )
    draft = oxy(
        AS_OF,
        6,
        supply_days=30,
        reference="MedicationRequest/draft",
        status="draft",
        source=OrderSource.DRAFT,
    )
    result = mme_timeline([active, other], as_of=AS_OF, drafts=[draft])
    assert result.current.value == pytest.approx(60.0)
    assert result.projected.value == pytest.approx(45.0 + 30.0)  # oxycodone replaced, morphine kept
    by_ref = {o.mme.reference: o for o in result.orders}
    assert by_ref["MedicationRequest/active"].replaced_by_draft == "MedicationRequest/draft"
    assert result.on(AS_OF).value == pytest.approx(60.0)  # history unchanged


def test_draft_of_a_new_drug_adds():
    active = oxy(d(10), 4, supply_days=30)
    draft = make_order(
        c.FENTANYL_25_PATCH, 1, "{patch}", 1 / 3, status="draft", source=OrderSource.DRAFT
    )
    result = mme_timeline([active], as_of=AS_OF, drafts=[draft])
    assert result.projected.value == pytest.approx(90.0)


def test_orders_and_drafts_for_oud_are_not_counted():
    def for_oud(order):
        return order.reference.endswith("/oud")

    history = make_order(
        c.METHADONE_10_TAB, 80, "mg", 1, start=d(60), supply_days=90, reference="MR/oud"
    )
    pain = oxy(d(10), 4, supply_days=30, reference="MR/pain")
    draft = make_order(
        c.METHADONE_10_TAB, 100, "mg", 1, status="draft", source=OrderSource.DRAFT,
        reference="Draft/oud",
    )  # fmt: skip
    result = mme_timeline([history, pain], as_of=AS_OF, drafts=[draft], for_oud=for_oud)
    assert result.current.value == pytest.approx(30.0)  # the oxycodone only
    assert result.projected.value == pytest.approx(30.0)
    assert result.complete
    moud = [o.mme for o in result.orders if o.mme.moud]
    assert {m.reference for m in moud} == {"MR/oud", "Draft/oud"}
    assert all(m.status is MmeStatus.EXCLUDED for m in moud)
    counted = mme_timeline([history, pain], as_of=AS_OF)  # the same orders, no OUD reason
    assert counted.current.value == pytest.approx(30.0 + 80 * 4.7)


def test_lookback_boundary():
    config = ExposureConfig(lookback_days=90)
    inside = oxy(d(89), 4, supply_days=1, reference="MedicationRequest/in")
    outside = oxy(d(95), 4, supply_days=5, reference="MedicationRequest/out")  # ends d(91)
    result = mme_timeline([inside, outside], as_of=AS_OF, config=config)
    assert len(result.daily) == 90
    assert result.start == d(89)
    assert result.daily[0].value == pytest.approx(30.0)
    assert sum(m.value for m in result.daily) == pytest.approx(30.0)
    assert result.on(d(91)).value == 0  # before the window: nothing known


def test_not_computed_outside_lookback_does_not_make_mme_incomplete():
    config = ExposureConfig(lookback_days=90)
    old = make_order(c.MORPHINE_10_INJ, 1, "mL", 4, start=d(200), supply_days=10)
    assert mme_timeline([old], as_of=AS_OF, config=config).complete


def test_completeness_flag():
    good = oxy(d(10), 4, supply_days=30)
    unparseable = make_order(
        c.MORPHINE_15_TAB, start=d(50), supply_days=30, problem="sig not parsed"
    )
    bup = make_order(c.BUPRENORPHINE_2_SL_TAB, 1, "{tbl}", 2, start=d(10), supply_days=30)
    non_opioid = make_order(rx(c.LISINOPRIL_10_TAB), 1, "{tbl}", 1, start=d(10), supply_days=30)
    assert mme_timeline([good, bup, non_opioid], as_of=AS_OF).complete
    result = mme_timeline([good, bup, non_opioid, unparseable], as_of=AS_OF)
    assert not result.complete
    assert not result.history_complete
    assert [o.mme.problem for o in result.problems] == ["sig not parsed"]
    assert len(result.orders) == 3  # the non-opioid is dropped
    assert {o.mme.status for o in result.orders} == {
        MmeStatus.COMPUTED,
        MmeStatus.EXCLUDED,
        MmeStatus.NOT_COMPUTED,
    }


def test_uncomputable_draft_makes_projection_incomplete_only():
    good = oxy(d(10), 4, supply_days=30)
    draft = make_order(c.MORPHINE_10_INJ, 1, "mL", 4, status="draft", source=OrderSource.DRAFT)
    result = mme_timeline([good], as_of=AS_OF, drafts=[draft])
    assert result.history_complete
    assert not result.complete


def test_active_opioid_without_start_date_makes_mme_incomplete():
    result = mme_timeline([oxy(None, 4, supply_days=30)], as_of=AS_OF)
    assert result.orders[0].ignored == "no start date"
    assert not result.complete


def test_patient_mme_reads_a_patient_timeline():
    timeline = PatientTimeline(
        as_of=AS_OF,
        orders=(oxy(d(3), 4, supply_days=30),),
        drafts=(oxy(AS_OF, 2, status="draft", source=OrderSource.DRAFT),),
    )
    result = patient_mme(timeline)
    assert (result.current.value, result.projected.value) == (
        pytest.approx(30.0),
        pytest.approx(15.0),
    )


def test_timeline_mapping_and_mean():
    result = mme_timeline([oxy(d(9), 4, supply_days=5)], as_of=AS_OF)
    mapping = result.timeline
    assert len(mapping) == 365
    assert max(mapping) == AS_OF
    assert mapping[d(9)].value == pytest.approx(30.0)
    assert result.mean(d(9), AS_OF).value == pytest.approx(15.0)


def test_heavy_patient_is_fast():
    # 300 orders over a year: alternating formulations, refills every ~10 days
    forms = [c.OXYCODONE_5_TAB, c.MORPHINE_ER_15_TAB, c.HYDROMORPHONE_2_TAB]
    orders = [
        make_order(
            forms[i % 3],
            1,
            "{tbl}",
            1 + i % 4,
            start=d(360 - i),
            supply_days=30,
            reference=f"MedicationRequest/{i}",
        )
        for i in range(300)
    ]
    mme_timeline(orders, as_of=AS_OF)  # warm caches
    best = min(_timed(lambda: mme_timeline(orders, as_of=AS_OF)) for _ in range(10))
    assert best < 0.02  # ~3 ms unloaded; an orders × days loop would take far longer


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
