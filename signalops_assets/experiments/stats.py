"""Fixed-horizon statistics for A/B testing LLM relevance judges (primary vs canary).

Every function takes sufficient statistics (counts and sums), never row lists, so callers
can aggregate in SQL and the maths stays cheap and testable. Differences are always
canary minus primary. Always-valid (peeking-safe) inference lives in ``sequential.py``.

scipy is imported inside the few functions that need a chi-square or binomial tail: the
normal distribution comes from the standard library, which keeps importing this module cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

_STD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class ChiSquareResult:
    chi2: float
    p_value: float
    dof: int


@dataclass(frozen=True, slots=True)
class BinaryCounts:
    """Judge label "relevant" (positive) against the human label, as a 2×2 table."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


@dataclass(frozen=True, slots=True)
class Rate:
    """A proportion with its Wilson interval; ``value`` is None when nothing was observed."""

    value: float | None
    interval: Interval


def z_quantile(confidence: float) -> float:
    """Two-sided critical value, e.g. 1.96 for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return _STD_NORMAL.inv_cdf(0.5 + confidence / 2)


def normal_quantile(q: float) -> float:
    return _STD_NORMAL.inv_cdf(q)


def normal_two_sided_pvalue(z: float) -> float:
    # erfc keeps precision far in the tail, where 1 - cdf would round to zero.
    return math.erfc(abs(z) / math.sqrt(2))


def _chi2_sf(statistic: float, dof: int) -> float:
    from scipy.stats import chi2

    return float(chi2.sf(statistic, dof))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval; unlike Wald it stays inside [0, 1] and behaves near 0 and 1."""
    if n == 0:
        return Interval(0.0, 1.0)
    z = z_quantile(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(max(0.0, center - half), min(1.0, center + half))


# Undefined ratios are None rather than 0: a judge that never says "relevant" has no
# precision, which is different from a judge whose every "relevant" is wrong.
def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def precision(c: BinaryCounts) -> float | None:
    return _ratio(c.tp, c.tp + c.fp)


def recall(c: BinaryCounts) -> float | None:
    return _ratio(c.tp, c.tp + c.fn)


def f1(c: BinaryCounts) -> float | None:
    # 2TP / (2TP + FP + FN) equals the harmonic mean and is defined even when one of
    # precision or recall is not; it is None only when no positive was seen by anyone.
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)


def cohens_kappa(matrix: Sequence[Sequence[int]]) -> float | None:
    """Cohen's kappa for a k×k agreement table (rows: judge label, columns: human label).

    None when there is no data or when chance agreement is already perfect (both raters
    used one single, identical label), where kappa is 0/0.
    """
    k = len(matrix)
    if any(len(row) != k for row in matrix):
        raise ValueError("agreement matrix must be square")
    total = sum(sum(row) for row in matrix)
    if total == 0:
        return None
    observed = sum(matrix[i][i] for i in range(k)) / total
    row_sums = [sum(row) for row in matrix]
    col_sums = [sum(matrix[i][j] for i in range(k)) for j in range(k)]
    expected = sum(r * c for r, c in zip(row_sums, col_sums, strict=True)) / total**2
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def newcombe_diff_interval(
    x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
) -> Interval:
    """Newcombe (1998) hybrid score interval for p2 - p1 (canary minus primary).

    Square-and-add of the two Wilson intervals ("method 10"): good coverage at the small
    label counts a canary gets, where the Wald interval is too narrow.
    """
    if n1 == 0 or n2 == 0:
        return Interval(-1.0, 1.0)
    p1, p2 = x1 / n1, x2 / n2
    w1 = wilson_interval(x1, n1, confidence)
    w2 = wilson_interval(x2, n2, confidence)
    diff = p2 - p1
    low = diff - math.hypot(p2 - w2.low, w1.high - p1)
    high = diff + math.hypot(w2.high - p2, p1 - w1.low)
    return Interval(max(-1.0, low), min(1.0, high))


def two_proportion_pvalue(x1: int, n1: int, x2: int, n2: int) -> float:
    """Fixed-horizon two-sided pooled z-test. Only valid if read once, at a planned n."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 1.0
    return normal_two_sided_pvalue((x2 / n2 - x1 / n1) / math.sqrt(variance))


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs of a shadow experiment.

    ``b`` = items only the primary judged correctly, ``c`` = only the canary. Under no
    difference each discordant pair is a fair coin, so this is a binomial(b + c, 1/2) test.
    """
    if b + c == 0:
        return 1.0
    from scipy.stats import binom

    return min(1.0, 2 * float(binom.cdf(min(b, c), b + c, 0.5)))


def paired_diff_interval(
    both: int, primary_only: int, canary_only: int, neither: int, confidence: float = 0.95
) -> Interval:
    """Interval for P(canary correct) - P(primary correct) on the same items.

    Newcombe (1998, Stat Med 17:2635) method 10: the square-and-add Wilson interval,
    corrected for the positive correlation paired designs have, with Newcombe's
    continuity-corrected phi. Chosen over Wald because it stays sensible when the
    discordant counts are small, which is the normal case when two judges mostly agree.
    """
    n = both + primary_only + canary_only + neither
    if n == 0:
        return Interval(-1.0, 1.0)
    canary_correct, primary_correct = both + canary_only, both + primary_only
    p_c, p_p = canary_correct / n, primary_correct / n
    w_c = wilson_interval(canary_correct, n, confidence)
    w_p = wilson_interval(primary_correct, n, confidence)
    margins = canary_correct * (n - canary_correct) * primary_correct * (n - primary_correct)
    phi = 0.0
    if margins > 0:
        cross = both * neither - primary_only * canary_only
        if cross > n / 2:
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    diff = p_c - p_p
    d_low_c, d_high_p = p_c - w_c.low, w_p.high - p_p
    d_high_c, d_low_p = w_c.high - p_c, p_p - w_p.low
    low = diff - math.sqrt(max(0.0, d_low_c**2 + d_high_p**2 - 2 * phi * d_low_c * d_high_p))
    high = diff + math.sqrt(max(0.0, d_high_c**2 + d_low_p**2 - 2 * phi * d_high_c * d_low_p))
    return Interval(max(-1.0, low), min(1.0, high))


def label_distribution_chi2(table: Sequence[Sequence[int]]) -> ChiSquareResult:
    """Pearson chi-square test of independence for arm × label counts (no Yates correction).

    A drift diagnostic: a small p-value means the arms label differently overall, not that
    either is more accurate. Labels nobody used are dropped, since they carry no evidence
    and would make the expected counts zero.
    """
    rows = [list(row) for row in table if sum(row) > 0]
    if not rows:
        return ChiSquareResult(0.0, 1.0, 0)
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("all rows must have the same number of labels")
    keep = [j for j in range(width) if any(row[j] for row in rows)]
    rows = [[row[j] for j in keep] for row in rows]
    dof = (len(rows) - 1) * (len(keep) - 1)
    if dof == 0:
        return ChiSquareResult(0.0, 1.0, 0)
    total = sum(sum(row) for row in rows)
    col_sums = [sum(row[j] for row in rows) for j in range(len(keep))]
    statistic = 0.0
    for row in rows:
        row_sum = sum(row)
        for count, col_sum in zip(row, col_sums, strict=True):
            expected = row_sum * col_sum / total
            statistic += (count - expected) ** 2 / expected
    return ChiSquareResult(statistic, _chi2_sf(statistic, dof), dof)


def cost_per_1000(total_cost: float, n: int) -> float | None:
    return 1000 * total_cost / n if n else None


def error_rate(errors: int, total: int, confidence: float = 0.95) -> Rate:
    return Rate(_ratio(errors, total), wilson_interval(errors, total, confidence))
