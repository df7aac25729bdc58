"""Small robust statistics for sparse, irregular pain series (clinical-rules.md §5.1).

Hand-written (no scipy dependency) and deterministic. The Theil–Sen slope is the
median of pairwise slopes, so it handles irregular day spacing and tolerates about 29%
outliers (Sen 1968; Theil 1950) [R50]. Mann–Kendall S and Kendall's tau-b are reported
only as *support*: at n=4 even a perfectly monotone series has one-sided p≈0.042, and
integer NRS values tie often, so the test can never gate a finding (§5.1).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MannKendall",
    "TheilSen",
    "even_subsample_indices",
    "mann_kendall",
    "median",
    "theil_sen",
]


def median(values: Sequence[float]) -> float:
    """The median (mean of the two middle values for an even count)."""
    if not values:
        raise ValueError("median of an empty sequence")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def even_subsample_indices(n: int, m: int) -> list[int]:
    """``m`` evenly spaced indices of ``range(n)``, always keeping the first and last.

    Deterministic (integer arithmetic), so a heavy patient's result is reproducible.
    """
    if m >= n:
        return list(range(n))
    if m < 2:
        raise ValueError("need at least 2 points to subsample")
    return [(i * (n - 1)) // (m - 1) for i in range(m)]


@dataclass(frozen=True, slots=True)
class TheilSen:
    """Theil–Sen fit: ``slope`` in y-units per x-unit (pain points per day here).

    ``intercept`` follows scipy's convention, median(y) − slope × median(x).
    ``n_used`` < ``n`` when the points were evenly subsampled to bound the work.
    """

    slope: float
    intercept: float
    n: int
    n_used: int
    n_pairs: int


def theil_sen(xs: Sequence[float], ys: Sequence[float], max_points: int | None = None) -> TheilSen:
    """Median of the slopes of all pairs with distinct x (irregular spacing allowed).

    With more than ``max_points`` points, evenly spaced points (in x order) are used:
    O(n²) pairs for ~600 raw scores would be ~180,000 slopes per evaluation, so the work
    is bounded by ``max_points``² / 2 slopes whatever the history length.
    """
    if len(xs) != len(ys):
        raise ValueError("xs and ys must have the same length")
    n = len(xs)
    pairs = sorted(zip(xs, ys, strict=True))
    if max_points is not None and n > max_points:
        pairs = [pairs[i] for i in even_subsample_indices(n, max_points)]
    slopes: list[float] = []
    for i, (x_i, y_i) in enumerate(pairs):
        slopes += [(y_j - y_i) / (x_j - x_i) for x_j, y_j in pairs[i + 1 :] if x_j != x_i]
    if not slopes:
        raise ValueError("Theil–Sen needs at least two points with different x")
    slopes.sort()  # in place: median() would copy up to max_points² / 2 slopes to sort them
    mid = len(slopes) // 2
    slope = float(slopes[mid]) if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2.0
    used_x = [p[0] for p in pairs]
    used_y = [p[1] for p in pairs]
    return TheilSen(
        slope=slope,
        intercept=median(used_y) - slope * median(used_x),
        n=n,
        n_used=len(pairs),
        n_pairs=len(slopes),
    )


@dataclass(frozen=True, slots=True)
class MannKendall:
    """Mann–Kendall trend statistics with tie correction (supporting evidence only).

    ``s`` = concordant − discordant pairs; ``tau`` is Kendall's tau-b (tie-corrected);
    ``var_s`` is the tie-corrected variance of S; ``z`` uses the usual continuity
    correction; ``p_two_sided`` is its normal approximation (unreliable below n≈10).
    A constant series has tau 0, z 0 and p 1.
    """

    n: int
    s: int
    var_s: float
    tau: float
    z: float
    p_two_sided: float


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _tie_sums(values: Sequence[float]) -> tuple[int, int, int, int]:
    """Σt(t−1)/2, Σt(t−1)(2t+5), Σt(t−1)(t−2), Σt(t−1) over groups of tied values."""
    groups = [t for t in Counter(values).values() if t > 1]
    return (
        sum(t * (t - 1) // 2 for t in groups),
        sum(t * (t - 1) * (2 * t + 5) for t in groups),
        sum(t * (t - 1) * (t - 2) for t in groups),
        sum(t * (t - 1) for t in groups),
    )


def _kendall_s(xs: Sequence[float], ys: Sequence[float]) -> int:
    """Σ sign(xⱼ − xᵢ)·sign(yⱼ − yᵢ) over all pairs, in O(n log n) comparisons.

    Points in x order; for each group of equal x, every earlier point (smaller x) with a
    smaller y is concordant and one with a larger y discordant (equal x or y: 0). The
    earlier y values are kept sorted, so each point costs two bisections and one
    insertion. A NaN coordinate makes every sign of its pairs 0, so such points are
    left out. Exactly the sum of the pairwise signs (an integer).
    """
    points = sorted((x, y) for x, y in zip(xs, ys, strict=True) if x == x and y == y)
    earlier: list[float] = []
    s = 0
    i, n = 0, len(points)
    while i < n:
        j = i
        x = points[i][0]
        while j < n and points[j][0] == x:
            y = points[j][1]
            s += bisect_left(earlier, y) - (len(earlier) - bisect_right(earlier, y))
            j += 1
        for _, y in points[i:j]:
            insort(earlier, y)
        i = j
    return s


def mann_kendall(xs: Sequence[float], ys: Sequence[float]) -> MannKendall:
    """Mann–Kendall S over time ``xs`` (ties in either variable handled as in tau-b)."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys must have the same length")
    n = len(xs)
    if n < 2:
        raise ValueError("Mann–Kendall needs at least two points")
    s = _kendall_s(xs, ys)
    n0 = n * (n - 1) // 2
    x_pairs, x_v, x_t2, x_t1 = _tie_sums(xs)
    y_pairs, y_v, y_t2, y_t1 = _tie_sums(ys)
    var_s = (n * (n - 1) * (2 * n + 5) - x_v - y_v) / 18.0
    if n > 2:
        var_s += (x_t2 * y_t2) / (9.0 * n * (n - 1) * (n - 2))
    var_s += (x_t1 * y_t1) / (2.0 * n * (n - 1))
    denom = math.sqrt(float((n0 - x_pairs) * (n0 - y_pairs)))
    tau = s / denom if denom > 0 else 0.0
    z = (s - _sign(s)) / math.sqrt(var_s) if var_s > 0 else 0.0
    return MannKendall(
        n=n,
        s=s,
        var_s=var_s,
        tau=tau,
        z=z,
        p_two_sided=math.erfc(abs(z) / math.sqrt(2.0)),
    )
