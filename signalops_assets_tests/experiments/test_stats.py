"""Checks the experiment statistics against scipy/statsmodels and by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
)

from signalops_assets.experiments.sequential import (
    SequentialResult,
    Verdict,
    always_valid_diff,
    confidence_sequence_halfwidth,
    decide,
    more_labels_needed,
    sequential_labels_needed_per_arm,
    sequential_rho,
)
from signalops_assets.experiments.stats import (
    BinaryCounts,
    Interval,
    SRMResult,
    agreement_rate,
    cohens_kappa,
    cost_per_1000,
    error_rate,
    f1,
    label_distribution_chi2,
    labels_needed_per_arm,
    mcnemar_exact,
    newcombe_diff_interval,
    paired_diff_interval,
    precision,
    recall,
    srm_check,
    two_proportion_pvalue,
    wilson_interval,
)

# --- SRM ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "ratios"),
    [([9100, 900], [0.9, 0.1]), ([8800, 1200], [0.9, 0.1]), ([340, 310, 350], [1, 1, 1])],
)
def test_srm_matches_scipy_chisquare(observed: list[int], ratios: list[float]) -> None:
    total = sum(observed)
    expected = [total * r / sum(ratios) for r in ratios]
    ref = sps.chisquare(observed, f_exp=expected)
    result = srm_check(observed, ratios)
    assert result.chi2 == pytest.approx(ref.statistic)
    assert result.p_value == pytest.approx(ref.pvalue)
    assert result.flagged == (ref.pvalue < 0.001)


def test_srm_flags_a_broken_split_and_tolerates_empty_arms() -> None:
    assert not srm_check([9000, 1000], [0.9, 0.1]).flagged
    assert srm_check([8800, 1200], [0.9, 0.1]).flagged
    assert srm_check([0, 0], [0.9, 0.1]) == SRMResult(chi2=0.0, p_value=1.0, flagged=False)
    with pytest.raises(ValueError):
        srm_check([10, 10], [1.0, 0.0])


# --- proportions and intervals --------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "n", "confidence"), [(0, 10, 0.95), (3, 10, 0.95), (10, 10, 0.9), (812, 1000, 0.99)]
)
def test_wilson_matches_statsmodels(x: int, n: int, confidence: float) -> None:
    low, high = proportion_confint(x, n, alpha=1 - confidence, method="wilson")
    interval = wilson_interval(x, n, confidence)
    assert interval.low == pytest.approx(low, abs=1e-12)
    assert interval.high == pytest.approx(high, abs=1e-12)


def test_wilson_without_data_is_uninformative() -> None:
    assert wilson_interval(0, 0) == Interval(0.0, 1.0)
    assert not wilson_interval(0, 0).excludes(0.5)
    assert wilson_interval(90, 100).excludes(0.5)


def test_confusion_matrix_rates() -> None:
    c = BinaryCounts(tp=40, fp=10, fn=20, tn=30)
    assert agreement_rate(c) == pytest.approx(0.7)
    assert precision(c) == pytest.approx(0.8)
    assert recall(c) == pytest.approx(40 / 60)
    assert f1(c) == pytest.approx(2 * 0.8 * (2 / 3) / (0.8 + 2 / 3))


def test_undefined_rates_are_none() -> None:
    never_relevant = BinaryCounts(tp=0, fp=0, fn=5, tn=5)
    assert precision(never_relevant) is None
    assert recall(never_relevant) == 0.0
    assert f1(never_relevant) == 0.0
    no_positives = BinaryCounts(tp=0, fp=0, fn=0, tn=7)
    assert recall(no_positives) is None
    assert f1(no_positives) is None
    assert agreement_rate(BinaryCounts(0, 0, 0, 0)) is None


def test_kappa_textbook_example() -> None:
    # Wikipedia "Cohen's kappa": 50 proposals, p_o = 0.7, p_e = 0.5, kappa = 0.4.
    assert cohens_kappa([[20, 5], [10, 15]]) == pytest.approx(0.4)


def test_kappa_three_labels_matches_statsmodels() -> None:
    table = [[44, 5, 3], [7, 30, 6], [2, 4, 19]]  # relevant / irrelevant / maybe
    assert cohens_kappa(table) == pytest.approx(sm_cohens_kappa(np.array(table)).kappa)


def test_kappa_undefined() -> None:
    assert cohens_kappa([[0, 0], [0, 0]]) is None
    assert cohens_kappa([[12, 0], [0, 0]]) is None
    with pytest.raises(ValueError):
        cohens_kappa([[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"),
    [(56, 70, 48, 80), (9, 10, 3, 10), (0, 20, 5, 20), (800, 1000, 92, 100)],
)
def test_newcombe_matches_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    # statsmodels reports first-minus-second, so pass the canary first.
    low, high = confint_proportions_2indep(x2, n2, x1, n1, method="newcomb", compare="diff")
    interval = newcombe_diff_interval(x1, n1, x2, n2)
    assert interval.low == pytest.approx(low, abs=1e-10)
    assert interval.high == pytest.approx(high, abs=1e-10)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(56, 70, 48, 80), (800, 1000, 92, 100)])
def test_two_proportion_pvalue_matches_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    _, ref = proportions_ztest([x2, x1], [n2, n1])
    assert two_proportion_pvalue(x1, n1, x2, n2) == pytest.approx(ref)


def test_two_proportion_pvalue_degenerate() -> None:
    assert two_proportion_pvalue(0, 0, 5, 10) == 1.0
    assert two_proportion_pvalue(10, 10, 10, 10) == 1.0


# --- paired (shadow) experiments ------------------------------------------------------


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 11), (12, 12), (40, 21), (0, 9)])
def test_mcnemar_exact_matches_statsmodels(b: int, c: int) -> None:
    ref = mcnemar([[50, b], [c, 30]], exact=True).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(ref)


def test_paired_interval_matches_fagerland_textbook() -> None:
    # Fagerland, Lydersen & Laake (2017), ch. 8, Cavo et al. table [[59, 6], [16, 80]]:
    # Newcombe square-and-add estimate -0.0621, 95% CI -0.1186 to -0.0046.
    interval = paired_diff_interval(both=59, primary_only=16, canary_only=6, neither=80)
    assert interval.low == pytest.approx(-0.1186, abs=5e-5)
    assert interval.high == pytest.approx(-0.0046, abs=5e-5)
    mirrored = paired_diff_interval(both=59, primary_only=6, canary_only=16, neither=80)
    assert mirrored.low == pytest.approx(-interval.high)
    assert mirrored.high == pytest.approx(-interval.low)
    assert paired_diff_interval(0, 0, 0, 0) == Interval(-1.0, 1.0)


# --- label drift and sample size ------------------------------------------------------


def test_label_distribution_chi2_matches_scipy_and_drops_unused_labels() -> None:
    table = [[300, 150, 50, 0], [40, 25, 12, 0]]
    ref = sps.chi2_contingency([row[:3] for row in table], correction=False)
    result = label_distribution_chi2(table)
    assert result.chi2 == pytest.approx(ref.statistic)
    assert result.p_value == pytest.approx(ref.pvalue)
    assert result.dof == ref.dof == 2


def test_label_distribution_chi2_two_by_two_has_no_yates_correction() -> None:
    table = [[30, 10], [20, 25]]
    ref = sps.chi2_contingency(table, correction=False)
    assert label_distribution_chi2(table).p_value == pytest.approx(ref.pvalue)
    assert label_distribution_chi2([[5, 0], [7, 0]]).p_value == 1.0
    assert label_distribution_chi2([[0, 0], [0, 0]]).dof == 0


@pytest.mark.parametrize("p_baseline", [0.5, 0.8, 0.93])
def test_labels_needed_matches_statsmodels(p_baseline: float) -> None:
    ref = max(
        math.ceil(samplesize_proportions_2indep_onetail(d, p_baseline, 0.8, alpha=0.05))
        for d in (-0.05, 0.05)
        if 0 < p_baseline + d < 1
    )
    assert labels_needed_per_arm(p_baseline) == ref


def test_labels_needed_rejects_impossible_effects() -> None:
    with pytest.raises(ValueError):
        labels_needed_per_arm(0.5, min_effect=0.6)
    with pytest.raises(ValueError):
        sequential_labels_needed_per_arm(1.0)


def test_labels_needed_close_to_arcsine_power_analysis() -> None:
    # statsmodels' NormalIndPower uses Cohen's h (arcsine), a different approximation:
    # agreement within a few percent is all that can be asked.
    effect = proportion_effectsize(0.8, 0.75)
    arcsine = NormalIndPower().solve_power(effect_size=effect, alpha=0.05, power=0.8)
    assert labels_needed_per_arm(0.8) == pytest.approx(arcsine, rel=0.03)


def test_more_labels_needed() -> None:
    needed = sequential_labels_needed_per_arm(0.8)
    assert needed > labels_needed_per_arm(0.8)  # peeking safety costs labels
    assert more_labels_needed(300, 100, 0.8) == needed - 100
    assert more_labels_needed(needed + 5, needed + 9, 0.8) == 0


def test_sequential_labels_needed_is_the_smallest_sufficient_n() -> None:
    def lower_bound(m: int) -> float:
        # Expected-case lower end of the interval when the true effect is +5 pp, shifted
        # down by z_0.8 standard errors so it clears zero with 80% probability.
        se = math.sqrt((0.8 * 0.2 + 0.75 * 0.25) / m)
        return 0.05 - se * 0.8416212335729143 - confidence_sequence_halfwidth(se, 2 * m)

    m = sequential_labels_needed_per_arm(0.8)
    assert lower_bound(m) >= 0 > lower_bound(m - 1)


# --- guardrails -----------------------------------------------------------------------


def test_guardrail_helpers() -> None:
    assert cost_per_1000(2.5, 500) == pytest.approx(5.0)
    assert cost_per_1000(2.5, 0) is None
    rate = error_rate(3, 200)
    assert rate.value == pytest.approx(0.015)
    assert rate.interval == wilson_interval(3, 200)
    assert error_rate(0, 0).value is None


# --- always-valid inference -----------------------------------------------------------


def test_rho_and_halfwidth_follow_the_published_formula() -> None:
    alpha, n_star = 0.05, 5000
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_star)
    assert sequential_rho(alpha, n_star) == pytest.approx(rho)

    x1, n1, x2, n2 = 640, 800, 174, 200
    p1, p2 = x1 / n1, x2 / n2
    v = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    n = n1 + n2
    half = math.sqrt(v * n) * math.sqrt(
        2 * (n * rho**2 + 1) / (n**2 * rho**2) * math.log(math.sqrt(n * rho**2 + 1) / alpha)
    )
    result = always_valid_diff(x1, n1, x2, n2)
    assert result.diff == pytest.approx(p2 - p1)
    assert result.low == pytest.approx(p2 - p1 - half)
    assert result.high == pytest.approx(p2 - p1 + half)
    # Always wider than the fixed-horizon Wald interval: that is the price of peeking.
    assert half > 1.96 * math.sqrt(v)


def test_always_valid_pvalue_is_where_the_sequence_touches_zero() -> None:
    result = always_valid_diff(640, 800, 174, 200)
    # With rho fixed at the design alpha, the sequence at level p_value has |diff| as its
    # half-width.
    se = math.sqrt(0.8 * 0.2 / 800 + 0.87 * 0.13 / 200)
    nr2 = 1000 * sequential_rho(0.05) ** 2
    half_at_p = se * math.sqrt(2 * (nr2 + 1) / nr2 * math.log(math.sqrt(nr2 + 1) / result.p_value))
    assert half_at_p == pytest.approx(abs(result.diff))


@pytest.mark.parametrize("x2", range(150, 200, 3))
def test_pvalue_and_interval_agree(x2: int) -> None:
    result = always_valid_diff(640, 800, x2, 200)
    assert result.significant == (result.p_value < 0.05)
    assert result.significant == (result.low > 0 or result.high < 0)


def test_always_valid_degenerate_inputs() -> None:
    assert always_valid_diff(0, 0, 3, 5) == SequentialResult(0.0, -1.0, 1.0, 1.0, False)
    assert not always_valid_diff(10, 10, 10, 10).significant
    perfect_split = always_valid_diff(0, 4, 4, 4)  # unpooled variance would be zero
    assert perfect_split.high <= 1.0
    assert perfect_split.low < perfect_split.diff


N_SIMULATIONS, N_PEEKS, LABELS_PER_NIGHT = 400, 30, 40


def _simulate(p_primary: float, p_canary: float, n_sims: int, seed: int) -> tuple[np.ndarray, ...]:
    """Cumulative counts per nightly peek, from binomial increments (sufficient stats only)."""
    rng = np.random.default_rng(seed)
    nightly = (n_sims, N_PEEKS)
    x1 = np.cumsum(rng.binomial(LABELS_PER_NIGHT, p_primary, size=nightly), axis=1)
    x2 = np.cumsum(rng.binomial(LABELS_PER_NIGHT, p_canary, size=nightly), axis=1)
    n = np.cumsum(np.full(nightly, LABELS_PER_NIGHT), axis=1)
    return x1, x2, n


def test_peeking_nightly_keeps_always_valid_false_positives_at_alpha() -> None:
    x1, x2, n = _simulate(0.8, 0.8, N_SIMULATIONS, seed=20240611)
    sequential_hits = naive_hits = 0
    for sim in range(N_SIMULATIONS):
        peeks = list(zip(x1[sim].tolist(), x2[sim].tolist(), n[sim].tolist(), strict=True))
        sequential_hits += any(always_valid_diff(a, m, b, m).significant for a, b, m in peeks)
        naive_hits += any(two_proportion_pvalue(a, m, b, m) < 0.05 for a, b, m in peeks)
    sequential_fpr = sequential_hits / N_SIMULATIONS
    naive_fpr = naive_hits / N_SIMULATIONS
    assert sequential_fpr <= 0.05 + 0.015, (sequential_fpr, naive_fpr)
    assert naive_fpr > 0.12, (sequential_fpr, naive_fpr)


def test_sequential_test_finds_a_real_ten_point_improvement() -> None:
    n_sims = 200
    x1, x2, n = _simulate(0.75, 0.85, n_sims, seed=7)
    no_srm = SRMResult(0.0, 1.0, False)
    verdicts = []
    for sim in range(n_sims):
        verdict = Verdict.NO_DECISION
        for a, b, m in zip(x1[sim].tolist(), x2[sim].tolist(), n[sim].tolist(), strict=True):
            verdict = decide(no_srm, always_valid_diff(a, m, b, m), 0).verdict
            if verdict is not Verdict.NO_DECISION:
                break
        verdicts.append(verdict)
    assert verdicts.count(Verdict.PROMOTE_CANARY) / n_sims >= 0.9
    assert Verdict.KEEP_PRIMARY not in verdicts


# --- decision -------------------------------------------------------------------------

OK_SRM = SRMResult(chi2=0.4, p_value=0.5, flagged=False)


def test_srm_overrides_everything() -> None:
    bad = SRMResult(chi2=40.0, p_value=1e-9, flagged=True)
    decision = decide(bad, SequentialResult(0.1, 0.05, 0.15, 0.001, True), 0)
    assert decision.verdict is Verdict.SAMPLE_RATIO_MISMATCH
    assert "fix" in decision.recommendation


def test_decide_promote_keep_and_wait() -> None:
    better = SequentialResult(0.06, 0.01, 0.11, 0.01, True)
    worse = SequentialResult(-0.06, -0.11, -0.01, 0.01, True)
    unsure = SequentialResult(0.02, -0.03, 0.07, 0.6, False)
    assert decide(OK_SRM, better, 0).verdict is Verdict.PROMOTE_CANARY
    assert decide(OK_SRM, worse, 0).verdict is Verdict.KEEP_PRIMARY
    waiting = decide(OK_SRM, unsure, 240)
    assert waiting.verdict == "no_decision"
    assert waiting.recommendation.startswith("no decision yet: about 240 more human labels per arm")
    assert "likely smaller" in decide(OK_SRM, unsure, 0).recommendation


def test_decide_lower_is_better_flips_the_direction() -> None:
    fewer_errors = SequentialResult(-0.06, -0.11, -0.01, 0.01, True)
    assert decide(OK_SRM, fewer_errors, 0, higher_is_better=False).verdict is Verdict.PROMOTE_CANARY
