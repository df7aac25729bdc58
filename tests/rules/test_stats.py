"""Median, Theil–Sen and Mann–Kendall against known values (checked with scipy 1.17)."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from rules.stats import even_subsample_indices, mann_kendall, median, theil_sen


def test_median_odd_even_and_empty() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    with pytest.raises(ValueError, match="empty"):
        median([])


def test_theil_sen_matches_scipy_on_irregular_spacing() -> None:
    # scipy.stats.theilslopes([1, 3, 2, 5], [0, 3, 10, 17])
    fit = theil_sen([0, 3, 10, 17], [1, 3, 2, 5])
    assert fit.slope == pytest.approx(0.18907563025210083)
    assert fit.intercept == pytest.approx(1.2710084033613445)
    assert (fit.n, fit.n_used, fit.n_pairs) == (4, 4, 6)


def test_theil_sen_exact_line_with_irregular_gaps() -> None:
    xs = [0, 1, 5, 6, 30, 31, 90]
    fit = theil_sen(xs, [2 + 0.05 * x for x in xs])
    assert fit.slope == pytest.approx(0.05)
    assert fit.intercept == pytest.approx(2.0)


def test_theil_sen_ignores_a_single_outlier() -> None:
    xs = [0, 10, 20, 30, 40, 50]
    ys = [3.0, 3.5, 4.0, 10.0, 5.0, 5.5]
    assert theil_sen(xs, ys).slope == pytest.approx(0.05)


def test_theil_sen_skips_pairs_with_equal_x() -> None:
    # scipy.stats.theilslopes([4, 4, 6, 5, 7, 8], [0, 1, 2, 10, 11, 30]).slope
    assert theil_sen([0, 1, 2, 10, 11, 30], [4, 4, 6, 5, 7, 8]).slope == pytest.approx(
        0.13333333333333333
    )
    assert theil_sen([1, 1, 2], [0, 2, 3]).n_pairs == 2
    with pytest.raises(ValueError, match="different x"):
        theil_sen([1, 1], [0, 2])


def test_theil_sen_subsamples_deterministically_when_large() -> None:
    xs = list(range(600))
    ys = [5 + 0.01 * x + (0.5 if x % 7 == 0 else 0.0) for x in xs]
    start = time.perf_counter()
    fit = theil_sen(xs, ys, max_points=300)
    elapsed = time.perf_counter() - start
    assert fit.n == 600
    assert fit.n_used == 300
    assert fit.n_pairs == 300 * 299 // 2
    assert fit.slope == pytest.approx(0.01, abs=1e-3)
    assert theil_sen(xs, ys, max_points=300) == fit
    assert elapsed < 2.0


def test_even_subsample_keeps_first_and_last() -> None:
    idx = even_subsample_indices(10, 4)
    assert idx == [0, 3, 6, 9]
    assert even_subsample_indices(3, 5) == [0, 1, 2]
    assert len(set(even_subsample_indices(601, 300))) == 300


def test_mann_kendall_monotone_n4() -> None:
    mk = mann_kendall([1, 2, 3, 4], [1, 2, 3, 4])
    assert mk.s == 6
    assert mk.var_s == pytest.approx(26 / 3)  # n(n-1)(2n+5)/18
    assert mk.tau == 1.0
    assert mk.z == pytest.approx(5 / math.sqrt(26 / 3))


def test_mann_kendall_ties_use_tau_b_and_corrected_variance() -> None:
    mk = mann_kendall([1, 2, 3, 4, 5], [3, 3, 4, 4, 5])
    assert mk.s == 8
    # (5*4*15 - 2*(2*1*9)) / 18 = 264 / 18
    assert mk.var_s == pytest.approx(264 / 18)
    # scipy.stats.kendalltau(...).statistic (tau-b)
    assert mk.tau == pytest.approx(0.8944271909999159)


def test_mann_kendall_decreasing_and_constant() -> None:
    down = mann_kendall([0, 5, 9, 30], [8, 7, 7, 2])
    assert down.s < 0
    assert down.tau < 0
    assert down.z < 0
    flat = mann_kendall([0, 1, 2], [5, 5, 5])
    assert (flat.s, flat.tau, flat.z, flat.p_two_sided) == (0, 0.0, 0.0, 1.0)


def test_mann_kendall_p_value_matches_scipy_asymptotic_without_continuity() -> None:
    xs = [0, 3, 7, 12, 20, 26, 33, 41, 50, 58, 64, 71]
    ys = [4, 5, 4, 6, 5, 7, 6, 6, 8, 7, 8, 8]
    mk = mann_kendall(xs, ys)
    # scipy.stats.kendalltau(xs, ys, method="asymptotic"):
    # statistic 0.7662817146030789, pvalue 0.0009525350990663203
    assert mk.tau == pytest.approx(0.7662817146030789)
    p_without_continuity = math.erfc(abs(mk.s / math.sqrt(mk.var_s)) / math.sqrt(2))
    assert p_without_continuity == pytest.approx(0.0009525350990663203)
    assert mk.p_two_sided > p_without_continuity  # the continuity correction is conservative


def _pairwise_s(xs: list[float], ys: list[float]) -> int:
    def sign(v: float) -> int:
        return (v > 0) - (v < 0)

    n = len(xs)
    return sum(sign(xs[j] - xs[i]) * sign(ys[j] - ys[i]) for i in range(n) for j in range(i + 1, n))


def _pairwise_slopes(xs: list[float], ys: list[float]) -> list[float]:
    pts = sorted(zip(xs, ys, strict=True))
    return [
        (y_j - y_i) / (x_j - x_i)
        for i, (x_i, y_i) in enumerate(pts)
        for x_j, y_j in pts[i + 1 :]
        if x_j != x_i
    ]


_day = st.integers(0, 300).map(float)
_score = st.sampled_from([0.0, 1.0, 2.5, 3.0, 4.0, 5.0, 5.5, 6.0, 7.0, 10.0, 4.333333333333333])


@hyp_settings(max_examples=300, deadline=None)
@given(points=st.lists(st.tuples(_day, _score), min_size=2, max_size=60))
def test_mann_kendall_s_equals_the_sum_over_all_pairs(points: list[tuple[float, float]]) -> None:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert mann_kendall(xs, ys).s == _pairwise_s(xs, ys)


def test_mann_kendall_s_with_nan_and_infinities_as_pairwise() -> None:
    inf, nan = math.inf, math.nan
    xs = [0.0, 1.0, 1.0, 2.0, nan, 5.0, inf, inf]
    ys = [3.0, nan, 2.0, 4.0, 1.0, inf, inf, -inf]
    assert mann_kendall(xs, ys).s == _pairwise_s(xs, ys)


@hyp_settings(max_examples=200, deadline=None)
@given(
    points=st.lists(st.tuples(_day, _score), min_size=2, max_size=40),
    cap=st.one_of(st.none(), st.integers(2, 30)),
)
def test_theil_sen_is_the_median_of_all_pairwise_slopes(
    points: list[tuple[float, float]], cap: int | None
) -> None:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if len(set(xs)) < 2:
        return
    fit = theil_sen(xs, ys, max_points=cap)
    if cap is None or len(xs) <= cap:
        slopes = _pairwise_slopes(xs, ys)
        assert fit.slope == median(slopes)
        assert fit.n_pairs == len(slopes)
    else:
        assert fit.n_used == cap


def test_mann_kendall_is_fast_for_a_long_daily_series() -> None:
    xs = [float(i) for i in range(3000)]
    ys = [float((i * 7) % 11) for i in range(3000)]
    start = time.perf_counter()
    mk = mann_kendall(xs, ys)
    assert time.perf_counter() - start < 1.0  # pairwise: 4.5 million pairs, many seconds
    assert mk.n == 3000
