"""Checks the experiment statistics against scipy/statsmodels and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from signalops_assets.experiments.stats import (
    BinaryCounts,
    Interval,
    cohens_kappa,
    cost_per_1000,
    error_rate,
    f1,
    label_distribution_chi2,
    mcnemar_exact,
    newcombe_diff_interval,
    paired_diff_interval,
    precision,
    recall,
    two_proportion_pvalue,
    wilson_interval,
)

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
    assert wilson_interval(90, 100).low > 0.5


def test_confusion_matrix_rates() -> None:
    c = BinaryCounts(tp=40, fp=10, fn=20, tn=30)
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


# --- guardrails -----------------------------------------------------------------------


def test_guardrail_helpers() -> None:
    assert cost_per_1000(2.5, 500) == pytest.approx(5.0)
    assert cost_per_1000(2.5, 0) is None
    rate = error_rate(3, 200)
    assert rate.value == pytest.approx(0.015)
    assert rate.interval == wilson_interval(3, 200)
    assert error_rate(0, 0).value is None
