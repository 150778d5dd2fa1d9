"""Always-valid (peeking-safe) inference for canary vs primary, and the resulting verdict.

Reports are recomputed nightly, so a fixed-horizon test read every night would declare a
winner far more often than its nominal alpha. The asymptotic confidence sequence below
stays valid at every peek, which is why it alone drives promote/keep decisions.

Reference: Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit
theory and asymptotic confidence sequences" (arXiv:2103.06476), eq. 9 for the half-width,
eq. 155 for the mixture e-value and eq. 161 for choosing rho from a target sample size N*.
This is the construction GrowthBook's gbstats uses for sequential testing (its
``sequential_tuning_parameter``, default 5000):

    rho       = sqrt((-2 ln(alpha) + ln(-2 ln(alpha) + 1)) / N*)
    s2        = SE^2 * n            (per-observation variance; SE^2 = sum p(1-p)/n_arm)
    halfwidth = sqrt(s2) * sqrt(2 (n rho^2 + 1) / (n^2 rho^2) * ln(sqrt(n rho^2 + 1) / alpha))

with n = n_primary + n_canary. The interval is narrowest relative to a fixed-horizon one
around n ≈ N*, and it is only asymptotically valid, so tiny samples are not to be trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from signalops_assets.experiments.stats import SRMResult, alternative_rates, normal_quantile

DEFAULT_TUNING_PARAMETER = 5000.0


@dataclass(frozen=True, slots=True)
class SequentialResult:
    diff: float
    low: float
    high: float
    p_value: float
    significant: bool


class Verdict(StrEnum):
    SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"
    PROMOTE_CANARY = "promote_canary"
    KEEP_PRIMARY = "keep_primary"
    NO_DECISION = "no_decision"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    recommendation: str


def sequential_rho(alpha: float, tuning: float = DEFAULT_TUNING_PARAMETER) -> float:
    if not 0 < alpha < 1 or tuning <= 0:
        raise ValueError("need 0 < alpha < 1 and a positive tuning parameter")
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(-2 * log_alpha + 1)) / tuning)


def _z_multiplier(n: int, alpha: float, rho: float) -> float:
    """Half-width in units of the standard error: the sequential analogue of 1.96."""
    nr2 = n * rho * rho
    return math.sqrt(2 * (nr2 + 1) / nr2 * math.log(math.sqrt(nr2 + 1) / alpha))


def confidence_sequence_halfwidth(
    std_error: float, n: int, alpha: float = 0.05, tuning: float = DEFAULT_TUNING_PARAMETER
) -> float:
    return std_error * _z_multiplier(n, alpha, sequential_rho(alpha, tuning))


def always_valid_diff(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    alpha: float = 0.05,
    sequential_tuning_parameter: float = DEFAULT_TUNING_PARAMETER,
) -> SequentialResult:
    """Confidence sequence and always-valid p-value for p2 - p1 (canary minus primary).

    The p-value is the inverse of the mixture e-value with rho fixed by ``alpha``, i.e. the
    smallest level at which this same sequence excludes zero, so ``p_value < alpha`` and
    ``significant`` agree (up to rounding).
    """
    if n1 == 0 or n2 == 0:
        return SequentialResult(0.0, -1.0, 1.0, 1.0, False)
    p1, p2 = x1 / n1, x2 / n2
    diff = p2 - p1
    variance = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    if variance <= 0:
        # One arm is all-correct and the other all-wrong: the unpooled variance says
        # "certain", which early on is just small-sample luck. The pooled one does not.
        pooled = (x1 + x2) / (n1 + n2)
        variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        # Every label identical in both arms: no spread to build an interval from.
        return SequentialResult(diff, -1.0, 1.0, 1.0, False)
    n = n1 + n2
    rho = sequential_rho(alpha, sequential_tuning_parameter)
    std_error = math.sqrt(variance)
    half = std_error * _z_multiplier(n, alpha, rho)
    low, high = max(-1.0, diff - half), min(1.0, diff + half)

    nr2 = n * rho * rho
    z2 = diff * diff / variance
    log_evalue = nr2 * z2 / (2 * (nr2 + 1)) - 0.5 * math.log(nr2 + 1)
    p_value = min(1.0, math.exp(-log_evalue))
    return SequentialResult(diff, low, high, p_value, significant=low > 0 or high < 0)


def sequential_labels_needed_per_arm(
    p_baseline: float,
    min_effect: float = 0.05,
    alpha: float = 0.05,
    power: float = 0.8,
    sequential_tuning_parameter: float = DEFAULT_TUNING_PARAMETER,
) -> int:
    """Labels per arm (equal arms) at which the confidence sequence excludes zero with
    probability ``power`` if the true difference is ``min_effect``.

    Solves min_effect >= SE(m) * (multiplier(2m) + z_power). The fixed-horizon answer
    (``stats.labels_needed_per_arm``) would understate this: the always-valid interval is
    wider, and it is the one that decides.
    """
    rho = sequential_rho(alpha, sequential_tuning_parameter)
    z_power = normal_quantile(power)
    variance = max(
        p_baseline * (1 - p_baseline) + p * (1 - p)
        for p in alternative_rates(p_baseline, min_effect)
    )

    def enough(m: int) -> bool:
        return min_effect >= math.sqrt(variance / m) * (_z_multiplier(2 * m, alpha, rho) + z_power)

    # SE(m) * multiplier(2m) decreases in m, so the smallest sufficient m can be bisected.
    high = 1
    while not enough(high):
        high *= 2
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def more_labels_needed(
    n_primary: int,
    n_canary: int,
    p_baseline: float,
    min_effect: float = 0.05,
    alpha: float = 0.05,
    power: float = 0.8,
    sequential_tuning_parameter: float = DEFAULT_TUNING_PARAMETER,
) -> int:
    """Further labels needed in the smaller arm; sized for the always-valid test.

    The size assumes equal arms. With an uneven split (e.g. a 10% canary) it is roughly
    conservative, because the bigger arm only shrinks the standard error further.
    """
    needed = sequential_labels_needed_per_arm(
        p_baseline, min_effect, alpha, power, sequential_tuning_parameter
    )
    return max(0, needed - min(n_primary, n_canary))


def _pp(x: float) -> str:
    return f"{100 * x:+.1f} pp"


def decide(
    srm: SRMResult,
    result: SequentialResult,
    more_labels_per_arm: int,
    *,
    higher_is_better: bool = True,
) -> Decision:
    """Turn the always-valid result into a verdict. Fixed-horizon p-values never do."""
    if srm.flagged:
        return Decision(
            Verdict.SAMPLE_RATIO_MISMATCH,
            f"sample ratio mismatch (p={srm.p_value:.2g}): fix the primary/canary assignment "
            "before reading any result",
        )
    interval = f"(always-valid interval {_pp(result.low)} to {_pp(result.high)})"
    canary_better = result.low > 0 if higher_is_better else result.high < 0
    canary_worse = result.high < 0 if higher_is_better else result.low > 0
    if canary_better:
        return Decision(
            Verdict.PROMOTE_CANARY,
            f"promote canary: difference {_pp(result.diff)} vs primary {interval}",
        )
    if canary_worse:
        return Decision(
            Verdict.KEEP_PRIMARY,
            f"keep primary: canary differs by {_pp(result.diff)} {interval}",
        )
    if more_labels_per_arm > 0:
        text = f"no decision yet: about {more_labels_per_arm} more human labels per arm"
    else:
        text = (
            "no decision yet: the planned labels are in and the interval still spans zero, "
            "so any difference is likely smaller than the minimum effect worth detecting"
        )
    return Decision(Verdict.NO_DECISION, f"{text} {interval}")
