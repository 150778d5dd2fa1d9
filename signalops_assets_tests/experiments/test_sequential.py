"""The always-valid tests and the verdict policy, proven by seeded simulation at the hard
settings: small canary arms, agreement near 100%, 30 nightly looks.

Every simulation calls the package's own functions (``two_sample_test``, ``paired_test``,
``decide``, ``sequential_srm``), not a re-implementation, on cumulative counts per night.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from signalops_assets.config import ExperimentConfig
from signalops_assets.experiments.decision import (
    GuardrailCheck,
    PriorDecision,
    Verdict,
    decide,
    guardrail_checks,
)
from signalops_assets.experiments.sequential import (
    boundary,
    labels_needed_paired,
    labels_needed_split,
    paired_test,
    sequential_rho,
    sequential_srm,
    srm_log_bayes_factor,
    two_sample_test,
)
from signalops_assets.experiments.stats import normal_two_sided_pvalue

CFG = ExperimentConfig()
LOOKS, PER_NIGHT, N_EXPERIMENTS = 30, 50, 1000
SHARES = (0.05, 0.1, 0.2, 0.5)
AGREEMENTS = (0.6, 0.8, 0.9, 0.98)


# --- formulas -------------------------------------------------------------------------


def test_boundary_follows_the_published_formula() -> None:
    alpha, n_star, n = 0.05, 2000, 700
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_star)
    assert sequential_rho(alpha, n_star) == pytest.approx(rho)
    nr2 = n * rho * rho
    expected = math.sqrt(2 * (nr2 + 1) / nr2 * math.log(math.sqrt(nr2 + 1) / alpha))
    assert boundary(n, alpha, n_star) == pytest.approx(expected)
    assert boundary(n) > 1.96  # always wider than one fixed-horizon look
    assert boundary(0) == math.inf


def test_two_sample_test_uses_the_null_variance() -> None:
    x1, n1, x2, n2 = 640, 800, 174, 200
    pooled = (x1 + x2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    result = two_sample_test(x1, n1, x2, n2)
    assert result.z == pytest.approx((x2 / n2 - x1 / n1) / se0)
    assert result.n == 1000 and result.boundary == pytest.approx(boundary(1000))
    # The mixture p-value and the boundary are the same test.
    for x in range(150, 200, 3):
        r = two_sample_test(x1, n1, x, n2)
        assert r.significant == (r.p_value < 0.05)
        assert r.low <= r.diff <= r.high


@pytest.mark.parametrize(
    ("counts", "why"),
    [
        ((150, 198, 2, 2), "canary at 100% on two labels"),
        ((45, 47, 0, 1), "one canary label"),
        ((0, 4, 4, 4), "both arms at the extremes"),
        ((30, 30, 5, 5), "every label agrees in both arms"),
    ],
)
def test_no_verdict_from_a_handful_of_labels(counts: tuple[int, int, int, int], why: str) -> None:
    assert not two_sample_test(*counts).significant, why


def test_paired_test_is_a_sequential_mcnemar() -> None:
    result = paired_test(primary_only=12, canary_only=30, pairs=900)
    assert result.z == pytest.approx((30 - 12) / math.sqrt(42))
    assert result.diff == pytest.approx(18 / 900)
    assert not paired_test(0, 0, 500).significant  # no discordant pair, no evidence
    assert not paired_test(0, 3, 40).significant


# --- the A/A grid -----------------------------------------------------------------------


def _split_counts(
    rng: np.random.Generator, share: float, p1: float, p2: float, n_exp: int
) -> tuple[np.ndarray, ...]:
    """Cumulative (x1, n1, x2, n2) per night: labels are split by assignment each night."""
    n2 = rng.binomial(PER_NIGHT, share, size=(n_exp, LOOKS))
    n1 = PER_NIGHT - n2
    x1, x2 = rng.binomial(n1, p1), rng.binomial(n2, p2)
    return tuple(np.cumsum(a, axis=1) for a in (x1, n1, x2, n2))


def _verdicts(results: list[tuple[object, bool]]) -> int:
    """The sticky statistical decision after the last look (0 if never reached)."""
    prior: PriorDecision | None = None
    for look, (result, enough) in enumerate(results, start=1):
        decision = decide(
            result=result,  # type: ignore[arg-type]
            srm_flagged=False,
            srm_p_value=1.0,
            enough_labels=enough,
            min_labels_per_arm=CFG.min_labels_per_arm,
            guardrails=[GuardrailCheck("error_rate", 0.0, 0.02, True)],
            labels_still_needed=0,
            prior=prior,
        )
        if prior is None and decision.direction:
            prior = PriorDecision(decision.direction, f"night {look}", look)
    return prior.direction if prior else 0


def _split_outcomes(counts: tuple[np.ndarray, ...]) -> list[tuple[int, int | None]]:
    """(final decision, first night decided) per experiment, through the package's code."""
    x1, n1, x2, n2 = counts
    out = []
    for e in range(x1.shape[0]):
        looks = [
            (
                two_sample_test(int(x1[e, t]), int(n1[e, t]), int(x2[e, t]), int(n2[e, t])),
                min(int(n1[e, t]), int(n2[e, t])) >= CFG.min_labels_per_arm,
            )
            for t in range(LOOKS)
        ]
        first = next((t + 1 for t, (r, ok) in enumerate(looks) if ok and r.significant), None)
        out.append((_verdicts(looks), first))
    return out


@pytest.mark.parametrize("share", SHARES)
def test_split_aa_grid_false_winners_at_most_5_percent(share: float) -> None:
    rng = np.random.default_rng(int(share * 1000))
    rates = {}
    for p in AGREEMENTS:
        outcomes = _split_outcomes(_split_counts(rng, share, p, p, N_EXPERIMENTS))
        rates[p] = sum(d != 0 for d, _ in outcomes) / N_EXPERIMENTS
    assert max(rates.values()) <= 0.05, rates


def _paired_counts(
    rng: np.random.Generator, p1: float, p2: float, copy: float, n_exp: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-post outcomes of two correlated judges: the canary repeats the primary's outcome
    with probability ``copy``, else draws its own (so both keep their marginal rates when
    p1 == p2). Returns cumulative (b, c, pairs) per night."""
    shape = (n_exp, LOOKS, PER_NIGHT)
    primary = rng.random(shape) < p1
    own = rng.random(shape) < p2
    canary = np.where(rng.random(shape) < copy, primary, own)
    b = np.cumsum((primary & ~canary).sum(axis=2), axis=1)
    c = np.cumsum((~primary & canary).sum(axis=2), axis=1)
    pairs = np.cumsum(np.full((n_exp, LOOKS), PER_NIGHT), axis=1)
    return b, c, pairs


def _paired_outcomes(b: np.ndarray, c: np.ndarray, n: np.ndarray) -> list[tuple[int, int | None]]:
    out = []
    for e in range(b.shape[0]):
        looks = [
            (
                paired_test(int(b[e, t]), int(c[e, t]), int(n[e, t])),
                int(n[e, t]) >= CFG.min_labels_per_arm,
            )
            for t in range(LOOKS)
        ]
        first = next((t + 1 for t, (r, ok) in enumerate(looks) if ok and r.significant), None)
        out.append((_verdicts(looks), first))
    return out


@pytest.mark.parametrize("copy", [0.0, 0.5, 0.9])
def test_shadow_aa_grid_with_correlated_judges(copy: float) -> None:
    rng = np.random.default_rng(int(copy * 100) + 1)
    rates = {}
    for p in AGREEMENTS:
        outcomes = _paired_outcomes(*_paired_counts(rng, p, p, copy, N_EXPERIMENTS))
        rates[p] = sum(d != 0 for d, _ in outcomes) / N_EXPERIMENTS
    assert max(rates.values()) <= 0.05, rates


# --- power ------------------------------------------------------------------------------


def test_ten_point_improvement_found_by_night_30_and_never_backwards() -> None:
    rng = np.random.default_rng(2026)
    outcomes = _split_outcomes(_split_counts(rng, 0.2, 0.8, 0.9, 600))
    decisions = [d for d, _ in outcomes]
    assert decisions.count(1) / len(decisions) >= 0.9
    assert -1 not in decisions
    worse = _split_outcomes(_split_counts(rng, 0.2, 0.9, 0.8, 600))
    assert 1 not in [d for d, _ in worse]


def test_shadow_decides_earlier_than_split_on_the_same_posts() -> None:
    """Both arms judge every post in shadow mode; split sees each post in one arm only."""
    rng = np.random.default_rng(99)
    n_exp, share = 300, 0.2
    shape = (n_exp, LOOKS, PER_NIGHT)
    primary = rng.random(shape) < 0.8
    canary = np.where(rng.random(shape) < 0.5, primary, rng.random(shape) < 0.8)
    canary |= (~canary) & (rng.random(shape) < 0.5)  # the canary fixes half its misses: ~+10 pp
    to_canary = rng.random(shape) < share
    split = tuple(
        np.cumsum(a.sum(axis=2), axis=1)
        for a in (primary & ~to_canary, ~to_canary, canary & to_canary, to_canary)
    )
    b = np.cumsum((primary & ~canary).sum(axis=2), axis=1)
    c = np.cumsum((~primary & canary).sum(axis=2), axis=1)
    pairs = np.cumsum(np.full((n_exp, LOOKS), PER_NIGHT), axis=1)
    split_first = [f or LOOKS + 1 for _, f in _split_outcomes(split)]
    shadow_first = [f or LOOKS + 1 for _, f in _paired_outcomes(b, c, pairs)]
    assert np.median(shadow_first) < np.median(split_first)
    assert np.mean(shadow_first) < np.mean(split_first)


@pytest.mark.parametrize(("share", "p"), [(0.2, 0.8), (0.1, 0.9), (0.5, 0.7)])
def test_stated_labels_give_80_percent_power(share: float, p: float) -> None:
    mde = CFG.min_detectable_effect
    n = labels_needed_split(p, mde, share, tuning=CFG.sequential_tuning_labels)
    rng = np.random.default_rng(int(share * 100 + p * 10))
    sims = 4000
    n2 = rng.binomial(n, share, size=sims)
    n1 = n - n2
    # The larger of the two directions is what is stated: check the one that needs it.
    p_canary = p + mde if _needs(p, mde, share, +1) >= _needs(p, mde, share, -1) else p - mde
    x1, x2 = rng.binomial(n1, p), rng.binomial(n2, p_canary)
    hits = sum(
        two_sample_test(
            int(a), int(m), int(b), int(k), tuning=CFG.sequential_tuning_labels
        ).significant
        for a, m, b, k in zip(x1, n1, x2, n2, strict=True)
    )
    assert 0.75 <= hits / sims <= 0.85, (n, hits / sims)


def _needs(p: float, mde: float, share: float, sign: int) -> int:
    # Size each direction alone by asking for the other one to be impossible.
    from signalops_assets.experiments import sequential

    if not 0 < p + sign * mde < 1:
        return 0
    v = (1 - share) * p + share * (p + sign * mde)
    v0 = v * (1 - v) * (1 / (1 - share) + 1 / share)
    v1 = p * (1 - p) / (1 - share) + (p + sign * mde) * (1 - p - sign * mde) / share
    n = 1
    while mde < sequential.boundary(n, 0.05, CFG.sequential_tuning_labels) * math.sqrt(
        v0 / n
    ) + 0.8416 * math.sqrt(v1 / n):
        n = int(n * 1.05) + 1
    return n


def test_split_sizing_follows_the_real_split() -> None:
    equal = labels_needed_split(0.8, 0.05, 0.5)
    small = labels_needed_split(0.8, 0.05, 0.1)
    assert small > equal  # a 10% canary needs more labels in all than an even split
    assert labels_needed_split(0.8, 0.1, 0.2) < labels_needed_split(0.8, 0.05, 0.2)


def test_paired_sizing_gives_80_percent_power() -> None:
    discordance, mde = 0.2, 0.05
    n = labels_needed_paired(discordance, mde)
    rng = np.random.default_rng(5)
    # d = +1 with prob (disc + mde)/2, -1 with (disc - mde)/2.
    draws = rng.multinomial(
        n, [(discordance - mde) / 2, (discordance + mde) / 2, 1 - discordance], size=4000
    )
    hits = sum(paired_test(int(b), int(c), n).significant for b, c, _ in draws)
    assert 0.75 <= hits / 4000 <= 0.85, (n, hits / 4000)


# --- sample ratio mismatch --------------------------------------------------------------


def test_srm_bayes_factor_matches_the_dirichlet_multinomial() -> None:
    from scipy.special import gammaln

    observed, ratios, k = [412, 1588], [0.2, 0.8], 200.0
    alphas = np.array(ratios) * k
    x = np.array(observed)
    log_m1 = gammaln(k) - gammaln(k + x.sum()) + np.sum(gammaln(alphas + x) - gammaln(alphas))
    log_m0 = np.sum(x * np.log(ratios))
    assert srm_log_bayes_factor(observed, ratios, k) == pytest.approx(log_m1 - log_m0)


def test_sequential_srm_aa_false_alarms_at_most_1_percent() -> None:
    rng = np.random.default_rng(11)
    alarms = 0
    sims, per_night = 5000, 70
    for _ in range(sims):
        canary = np.cumsum(rng.binomial(per_night, 0.2, size=LOOKS))
        running = float("-inf")
        flagged = False
        for t, c in enumerate(canary, start=1):
            result = sequential_srm(
                [per_night * t - int(c), int(c)], [0.8, 0.2], previous_max_log_bf=running
            )
            running, flagged = result.max_log_bayes_factor, flagged or result.flagged
        alarms += flagged
    assert alarms / sims <= 0.01, alarms / sims


def test_sequential_srm_flags_a_three_point_skew_and_remembers_it() -> None:
    result = sequential_srm([1540, 460], [0.8, 0.2])  # 23% to the canary instead of 20%
    assert result.flagged
    # Fixed-horizon chi-square would say the same once; the BF stays flagged afterwards.
    later = sequential_srm([1600, 400], [0.8, 0.2], previous_max_log_bf=result.max_log_bayes_factor)
    assert later.flagged and later.p_value == result.p_value
    assert not sequential_srm([1600, 400], [0.8, 0.2]).flagged
    z = (460 - 400) / math.sqrt(2000 * 0.2 * 0.8)
    assert normal_two_sided_pvalue(z) < 0.001  # the skew is real


# --- the policy ---------------------------------------------------------------------------


def _decide(**overrides: object) -> Verdict:
    args: dict[str, object] = {
        "result": two_sample_test(600, 1000, 330, 400),
        "srm_flagged": False,
        "srm_p_value": 0.5,
        "enough_labels": True,
        "min_labels_per_arm": 30,
        "guardrails": [GuardrailCheck("error_rate", 0.0, 0.02, True)],
        "labels_still_needed": 0,
        "prior": None,
    }
    args.update(overrides)
    return decide(**args).verdict  # type: ignore[arg-type]


def test_policy_order() -> None:
    assert two_sample_test(600, 1000, 330, 400).direction == 1
    assert _decide() is Verdict.PROMOTE_CANARY
    assert _decide(srm_flagged=True) is Verdict.SAMPLE_RATIO_MISMATCH
    assert _decide(enough_labels=False) is Verdict.NO_DECISION
    failed = guardrail_checks(
        error_rate_delta=0.05,
        max_error_rate_increase=0.02,
        canary_p95_ms=900.0,
        max_p95_latency_ms=1000.0,
        canary_cost_per_1k=None,
        max_cost_per_1k_usd=1.0,
    )
    assert [g.passed for g in failed] == [False, True, False]
    assert _decide(guardrails=failed) is Verdict.GUARDRAIL_FAILED
    worse = two_sample_test(600, 1000, 200, 400)
    assert _decide(result=worse) is Verdict.KEEP_PRIMARY


def test_a_decision_stands_on_later_nights() -> None:
    undecided = two_sample_test(600, 1000, 245, 400)
    assert not undecided.significant
    prior = PriorDecision(1, "2026-11-30T02:00", 12)
    assert _decide(result=undecided, prior=prior) is Verdict.PROMOTE_CANARY
    assert _decide(result=undecided, prior=PriorDecision(-1, "x", 3)) is Verdict.KEEP_PRIMARY
