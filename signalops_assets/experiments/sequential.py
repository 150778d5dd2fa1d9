"""Always-valid (peeking-safe) tests for canary vs primary, and the labels they need.

The analysis runs every night, so any test read nightly must keep its error rate over every
look, not at one planned look. Everything here is a pure function of sufficient statistics.

**Agreement, split mode** (two independent arms): the asymptotic confidence sequence of
Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit theory and
asymptotic confidence sequences" (arXiv:2103.06476; eq. 9 for the boundary, eq. 161 for rho
from a target sample size N*), which is what GrowthBook's gbstats uses for its sequential
testing (``sequential_tuning_parameter``):

    rho       = sqrt((-2 ln(alpha) + ln(-2 ln(alpha) + 1)) / N*)
    boundary  = sqrt(2 (n rho^2 + 1) / (n rho^2) * ln(sqrt(n rho^2 + 1) / alpha))

with n = n_primary + n_canary. The *test* compares z = diff / SE0 with the boundary, where
SE0 is the standard error under the null hypothesis of equal rates, from the pooled rate:
SE0^2 = p(1 - p)(1/n1 + 1/n2). The unpooled standard error is zero for an arm at 0% or 100%
observed agreement, which is the normal state of a small canary arm, and a test built on it
declares winners from a handful of labels (the seeded A/A grid in the test suite holds the
pooled test to its false-winner bound at canary shares down to 5%). SE0 cannot
collapse while either arm has a single disagreement, and when both arms agree on every label
there is no evidence of any difference. The displayed interval uses the unpooled variance
(with SE0 as a floor), so it is a description, not the test.

**Agreement, shadow mode** (both arms judge the same posts): the same boundary on the mean
of per-post differences d = canary_correct - primary_correct, with n = pairs and the null
variance E[d^2] = (b + c) / n from the discordant pairs (b: only the primary right, c: only
the canary right). This is a sequential McNemar: z = (c - b) / sqrt(b + c).

**Sample ratio**: the Bayes factor of a Dirichlet-multinomial against the configured split
(Lindon & Malek, "Anytime-valid inference for multinomial count data", NeurIPS 2022, which
GrowthBook documents for its SRM check). Under the null it is a nonnegative martingale, so by
Ville's inequality the chance that it *ever* exceeds 1/alpha is at most alpha, however often
it is read. Its anytime-valid p-value is 1 / max(BF so far).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from signalops_assets.experiments.stats import normal_quantile

DEFAULT_ALPHA = 0.05
# N*: the number of labels (both arms) at which the sequence is tightest. 2,000 is about six
# weeks of a team labelling 50 posts a night; the A/A grid keeps <= 5% false winners at any N*
# (the boundary is valid for every N*), the choice only moves where power is spent.
DEFAULT_TUNING_PARAMETER = 2000.0
# Prior concentration of the SRM Dirichlet: its evidence peaks near n ~ 10 * concentration
# judgments, so 200 spends its power around 2,000 judgments, where a 3-point skew of a 20%
# canary becomes detectable.
DEFAULT_SRM_CONCENTRATION = 200.0
# Ville's bound makes 3% the worst case however often it is read; the seeded simulations in
# the suite check it over many nightly looks, and that a 23%-vs-20% skew over 2,000 posts is
# still flagged.
DEFAULT_SRM_ALPHA = 0.03


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """``diff`` is canary minus primary; ``z`` the test statistic under the null;
    ``boundary`` what |z| must exceed; low/high the always-valid (display) interval."""

    diff: float
    low: float
    high: float
    p_value: float
    z: float
    boundary: float
    n: int

    @property
    def significant(self) -> bool:
        return abs(self.z) > self.boundary

    @property
    def direction(self) -> int:
        """+1 canary better, -1 canary worse, 0 undecided."""
        if not self.significant:
            return 0
        return 1 if self.z > 0 else -1


NO_RESULT = SequentialResult(0.0, -1.0, 1.0, 1.0, 0.0, math.inf, 0)


def sequential_rho(alpha: float, tuning: float = DEFAULT_TUNING_PARAMETER) -> float:
    if not 0 < alpha < 1 or tuning <= 0:
        raise ValueError("need 0 < alpha < 1 and a positive tuning parameter")
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(-2 * log_alpha + 1)) / tuning)


def boundary(
    n: int, alpha: float = DEFAULT_ALPHA, tuning: float = DEFAULT_TUNING_PARAMETER
) -> float:
    """Half-width in standard errors at n observations: the sequential analogue of 1.96."""
    if n <= 0:
        return math.inf
    rho = sequential_rho(alpha, tuning)
    nr2 = n * rho * rho
    return math.sqrt(2 * (nr2 + 1) / nr2 * math.log(math.sqrt(nr2 + 1) / alpha))


def _mixture_pvalue(z: float, n: int, alpha: float, tuning: float) -> float:
    """Inverse of the mixture e-value at the same rho: p < alpha exactly when |z| > boundary."""
    rho = sequential_rho(alpha, tuning)
    nr2 = n * rho * rho
    log_evalue = nr2 * z * z / (2 * (nr2 + 1)) - 0.5 * math.log(nr2 + 1)
    return min(1.0, math.exp(-log_evalue))


def _result(
    diff: float, se0: float, se_display: float, n: int, alpha: float, tuning: float
) -> SequentialResult:
    if se0 <= 0:
        return SequentialResult(diff, -1.0, 1.0, 1.0, 0.0, boundary(n, alpha, tuning), n)
    z = diff / se0
    edge = boundary(n, alpha, tuning)
    half = edge * max(se_display, se0)
    return SequentialResult(
        diff=diff,
        low=max(-1.0, diff - half),
        high=min(1.0, diff + half),
        p_value=_mixture_pvalue(z, n, alpha, tuning),
        z=z,
        boundary=edge,
        n=n,
    )


def two_sample_test(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    alpha: float = DEFAULT_ALPHA,
    tuning: float = DEFAULT_TUNING_PARAMETER,
) -> SequentialResult:
    """Split mode: x1 of n1 primary labels agreed, x2 of n2 canary labels."""
    if n1 <= 0 or n2 <= 0:
        return NO_RESULT
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    se_unpooled = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return _result(p2 - p1, se0, se_unpooled, n1 + n2, alpha, tuning)


def paired_test(
    primary_only: int,
    canary_only: int,
    pairs: int,
    alpha: float = DEFAULT_ALPHA,
    tuning: float = DEFAULT_TUNING_PARAMETER,
) -> SequentialResult:
    """Shadow mode: ``pairs`` labelled posts judged by both arms, of which ``primary_only``
    only the primary got right and ``canary_only`` only the canary."""
    if pairs <= 0:
        return NO_RESULT
    b, c = primary_only, canary_only
    diff = (c - b) / pairs
    se0 = math.sqrt(b + c) / pairs
    # Unpooled: the sample variance of d around its mean, for the display interval.
    se_display = math.sqrt(max(0.0, (b + c) / pairs - diff * diff) / pairs)
    return _result(diff, se0, se_display, pairs, alpha, tuning)


# --- sample ratio mismatch ------------------------------------------------------------


def srm_log_bayes_factor(
    observed: Sequence[int],
    ratios: Sequence[float],
    concentration: float = DEFAULT_SRM_CONCENTRATION,
) -> float:
    """log BF of "the split is not the configured one" (Dirichlet(concentration * ratios)
    prior) against the configured multinomial; multinomial coefficients cancel."""
    if len(observed) != len(ratios) or len(observed) < 2:
        raise ValueError("need one expected ratio per arm and at least two arms")
    if any(r <= 0 for r in ratios):
        raise ValueError("expected ratios must be positive")
    total_ratio = sum(ratios)
    probs = [r / total_ratio for r in ratios]
    alphas = [concentration * p for p in probs]
    n = sum(observed)
    log_marginal = math.lgamma(concentration) - math.lgamma(concentration + n)
    log_marginal += sum(
        math.lgamma(a + x) - math.lgamma(a) for a, x in zip(alphas, observed, strict=True)
    )
    log_null = sum(x * math.log(p) for x, p in zip(observed, probs, strict=True) if x)
    return log_marginal - log_null


@dataclass(frozen=True, slots=True)
class SequentialSRM:
    log_bayes_factor: float  # tonight's
    max_log_bayes_factor: float  # over every look so far, tonight's included
    p_value: float  # anytime-valid: 1 / max BF
    flagged: bool


def sequential_srm(
    observed: Sequence[int],
    ratios: Sequence[float],
    *,
    previous_max_log_bf: float = -math.inf,
    alpha: float = DEFAULT_SRM_ALPHA,
    concentration: float = DEFAULT_SRM_CONCENTRATION,
) -> SequentialSRM:
    tonight = srm_log_bayes_factor(observed, ratios, concentration) if sum(observed) else 0.0
    running = max(tonight, previous_max_log_bf)
    p_value = min(1.0, math.exp(-running))
    return SequentialSRM(tonight, running, p_value, flagged=p_value < alpha)


# --- sizing ---------------------------------------------------------------------------


def _smallest(enough: Callable[[int], bool]) -> int:
    """The smallest n with enough(n), for an `enough` that stays true once true."""
    high = 1
    while not enough(high):
        high *= 2
        if high > 10**9:
            raise ValueError("effect too small to detect")
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def labels_needed_split(
    p_baseline: float,
    min_effect: float,
    canary_share: float,
    alpha: float = DEFAULT_ALPHA,
    power: float = 0.8,
    tuning: float = DEFAULT_TUNING_PARAMETER,
) -> int:
    """Total human labels (both arms, split ``canary_share``) at which ``two_sample_test``
    crosses its boundary with probability ``power`` if the canary is ``min_effect`` better
    (or worse; the larger answer wins).

    Solves  min_effect = boundary(N) * SE0(N) + z_power * SE1(N)  for N, with SE0 the null
    (pooled) standard error the test uses and SE1 the one under the alternative.
    """
    if not 0 < canary_share < 1:
        raise ValueError("canary share must be in (0, 1)")
    z_power = normal_quantile(power)
    answers = []
    for p_canary in (p_baseline + min_effect, p_baseline - min_effect):
        if not 0 < p_canary < 1:
            continue
        pooled = (1 - canary_share) * p_baseline + canary_share * p_canary
        v0 = pooled * (1 - pooled) * (1 / (1 - canary_share) + 1 / canary_share)
        v1 = (
            p_baseline * (1 - p_baseline) / (1 - canary_share)
            + p_canary * (1 - p_canary) / canary_share
        )

        def enough(n: int, v0: float = v0, v1: float = v1) -> bool:
            return min_effect >= boundary(n, alpha, tuning) * math.sqrt(
                v0 / n
            ) + z_power * math.sqrt(v1 / n)

        answers.append(_smallest(enough))
    if not answers:
        raise ValueError("min_effect is too large for the baseline agreement")
    return max(answers)


def labels_needed_paired(
    discordance: float,
    min_effect: float,
    alpha: float = DEFAULT_ALPHA,
    power: float = 0.8,
    tuning: float = DEFAULT_TUNING_PARAMETER,
) -> int:
    """Labelled posts (each judged by both arms) for ``paired_test``, given the share of
    posts the two judges disagree on (b + c) / n."""
    discordance = max(discordance, min_effect)
    z_power = normal_quantile(power)
    v1 = discordance - min_effect * min_effect

    def enough(n: int) -> bool:
        return min_effect >= boundary(n, alpha, tuning) * math.sqrt(
            discordance / n
        ) + z_power * math.sqrt(v1 / n)

    return _smallest(enough)
