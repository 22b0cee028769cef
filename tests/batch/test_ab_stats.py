"""Readout statistics from summary rows, pinned to independent computations on the raw values.

Each test draws per-member values, reduces them to the summary rows Spark would compute (n, sums,
sums of squares and cross products), and compares the readout's numbers with scipy / statsmodels
run on the raw values, to 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.numdiff import approx_fprime

from batch.ab_stats import (
    Cuped,
    Histogram,
    Proportion,
    Ratio,
    SampleMean,
    bootstrap_quantile,
    compare,
    cuped,
    holm,
    srm,
)
from streaming.sketch import keys_of, values_of

TOL = 1e-6


def _mean(x: np.ndarray) -> SampleMean:
    return SampleMean(len(x), float(x.sum()), float((x * x).sum()))


def _ratio(m: np.ndarray, d: np.ndarray) -> Ratio:
    return Ratio(len(m), float(m.sum()), float((m * m).sum()), float(d.sum()), float((d * d).sum()),
                 float((m * d).sum()))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mean_metric_matches_welch_t_test(seed: int) -> None:
    rng = np.random.default_rng(seed)
    control = rng.lognormal(3.0, 1.0, 800)
    treatment = rng.lognormal(3.05, 1.1, 650)
    result = compare(_mean(control), _mean(treatment))
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    ci = reference.confidence_interval(0.95)
    assert result.delta_abs == pytest.approx(treatment.mean() - control.mean(), abs=TOL)
    assert result.p_value == pytest.approx(reference.pvalue, abs=TOL)
    assert result.ci_low_abs == pytest.approx(ci.low, abs=TOL)
    assert result.ci_high_abs == pytest.approx(ci.high, abs=TOL)
    assert result.method == "welch t"


def test_relative_lift_uses_the_delta_method_with_the_welch_df() -> None:
    rng = np.random.default_rng(4)
    control, treatment = rng.normal(10, 3, 500), rng.normal(10.5, 3.5, 520)
    result = compare(_mean(control), _mean(treatment))
    # Independent: numeric gradient of g(μc, μt) = μt/μc − 1 with the covariance of the two means.
    means = np.array([control.mean(), treatment.mean()])
    cov = np.diag([control.var(ddof=1) / len(control), treatment.var(ddof=1) / len(treatment)])
    grad = approx_fprime(means, lambda m: m[1] / m[0] - 1, centered=True)
    se = float(np.sqrt(grad @ cov @ grad))
    df = stats.ttest_ind(treatment, control, equal_var=False).df
    crit = stats.t.ppf(0.975, df)
    rel = treatment.mean() / control.mean() - 1
    assert result.delta_rel == pytest.approx(rel, abs=TOL)
    assert result.ci_low_rel == pytest.approx(rel - crit * se, abs=TOL)
    assert result.ci_high_rel == pytest.approx(rel + crit * se, abs=TOL)


@pytest.mark.parametrize(("n_c", "x_c", "n_t", "x_t"), [(1000, 210, 1100, 265), (400, 12, 380, 5)])
def test_proportion_metric_matches_statsmodels_wald(n_c: int, x_c: int, n_t: int, x_t: int) -> None:
    result = compare(Proportion(n_c, x_c), Proportion(n_t, x_t))
    _, p_value = sm_proportion.test_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
    low, high = sm_proportion.confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
    assert result.delta_abs == pytest.approx(x_t / n_t - x_c / n_c, abs=TOL)
    assert result.p_value == pytest.approx(p_value, abs=TOL)
    assert result.ci_low_abs == pytest.approx(low, abs=TOL)
    assert result.ci_high_abs == pytest.approx(high, abs=TOL)


def test_ratio_metric_variance_is_the_delta_method_over_members() -> None:
    rng = np.random.default_rng(5)

    def draw(n: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
        d = rng.poisson(3, n) + 1.0
        return rng.binomial(d.astype(int), rate).astype(float), d

    (m_c, d_c), (m_t, d_t) = draw(900, 0.45), draw(950, 0.5)
    result = compare(_ratio(m_c, d_c), _ratio(m_t, d_t))

    def ratio_se2(m: np.ndarray, d: np.ndarray) -> float:
        # Independent: numeric gradient of Σm/Σd in the means, with the sample covariance of (m, d).
        grad = approx_fprime(np.array([m.mean(), d.mean()]), lambda v: v[0] / v[1], centered=True)
        return float(grad @ np.cov(np.vstack([m, d]), ddof=1) @ grad) / len(m)

    r_c, r_t = m_c.sum() / d_c.sum(), m_t.sum() / d_t.sum()
    se = np.sqrt(ratio_se2(m_c, d_c) + ratio_se2(m_t, d_t))
    z = stats.norm.ppf(0.975)
    assert result.delta_abs == pytest.approx(r_t - r_c, abs=TOL)
    assert result.ci_low_abs == pytest.approx(r_t - r_c - z * se, abs=TOL)
    assert result.ci_high_abs == pytest.approx(r_t - r_c + z * se, abs=TOL)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(r_t - r_c) / se), abs=TOL)


def test_cuped_matches_ols_and_welch_on_adjusted_values() -> None:
    rng = np.random.default_rng(6)
    n_c, n_t = 700, 760
    x_c, x_t = rng.gamma(2, 50, n_c), rng.gamma(2, 50, n_t)
    y_c = 0.8 * x_c + rng.normal(0, 30, n_c) + 20
    y_t = 0.8 * x_t + rng.normal(0, 30, n_t) + 26

    def summary(y: np.ndarray, x: np.ndarray) -> Cuped:
        return Cuped(len(y), y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum())

    result = cuped(summary(y_c, x_c), summary(y_t, x_t))
    assert result is not None
    y = np.concatenate([y_c, y_t])
    x = np.concatenate([x_c, x_t])
    treated = np.concatenate([np.zeros(n_c), np.ones(n_t)])
    ols = sm.OLS(y, sm.add_constant(np.column_stack([treated, x]))).fit()
    assert result.delta_abs == pytest.approx(ols.params[1], abs=TOL)
    assert result.theta == pytest.approx(ols.params[2], abs=TOL)
    adjusted = stats.ttest_ind(y_t - result.theta * x_t, y_c - result.theta * x_c, equal_var=False)
    ci = adjusted.confidence_interval(0.95)
    assert result.p_value == pytest.approx(adjusted.pvalue, abs=TOL)
    assert result.ci_low_abs == pytest.approx(ci.low, abs=TOL)
    assert result.ci_high_abs == pytest.approx(ci.high, abs=TOL)
    # CUPED narrows the interval when the pre-period predicts the metric.
    plain = compare(_mean(y_c), _mean(y_t))
    assert result.ci_high_abs - result.ci_low_abs < 0.5 * (plain.ci_high_abs - plain.ci_low_abs)


@pytest.mark.parametrize(
    ("observed", "weights"),
    [
        ({"control": 5050, "b": 4950}, {"control": 1, "b": 1}),
        ({"control": 5000, "b": 4500, "c": 5100}, {"control": 1, "b": 1, "c": 1}),
        ({"control": 2000, "b": 6100}, {"control": 1, "b": 3}),
    ],
)
def test_srm_matches_scipy_chisquare(observed: dict[str, int], weights: dict[str, float]) -> None:
    result = srm(observed, weights)
    counts = np.array(list(observed.values()), dtype=float)
    shares = np.array([weights[c] for c in observed]) / sum(weights.values())
    reference = stats.chisquare(counts, counts.sum() * shares)
    assert result.chi2 == pytest.approx(reference.statistic, abs=TOL)
    assert result.p_value == pytest.approx(reference.pvalue, abs=TOL)
    assert result.flagged == (reference.pvalue < 0.001)


def test_srm_flags_a_lost_tenth_and_not_a_fair_split() -> None:
    assert srm({"control": 10_000, "b": 9_000}, {"control": 1, "b": 1}).flagged
    assert not srm({"control": 10_000, "b": 9_950}, {"control": 1, "b": 1}).flagged


def test_holm_matches_statsmodels() -> None:
    p = [0.01, 0.04, 0.03, 0.2, 0.005, float("nan")]
    expected = multipletests([v for v in p if v == v], method="holm")[1]
    assert holm(p)[:5] == pytest.approx(list(expected), abs=TOL)
    assert np.isnan(holm(p)[5])


def _histogram(values: np.ndarray) -> Histogram:
    keys, counts = np.unique(keys_of(values), return_counts=True)
    return Histogram(keys, counts.astype(np.float64))


def test_histogram_quantiles_are_within_one_percent() -> None:
    values = np.random.default_rng(7).lognormal(7, 0.5, 20_000)
    histogram = _histogram(values)
    for q in (0.5, 0.95):
        assert histogram.quantile(q) == pytest.approx(np.quantile(values, q), rel=0.011)
    assert values_of(np.array([keys_of(np.array([1000.0]))[0]]))[0] == pytest.approx(1000, rel=0.01)


def test_bootstrap_ci_covers_a_known_quantile_shift_and_is_reproducible() -> None:
    rng = np.random.default_rng(8)
    control = _histogram(rng.lognormal(7, 0.5, 5_000))
    treatment = _histogram(0.9 * rng.lognormal(7, 0.5, 5_000))
    first = bootstrap_quantile(control, treatment, 0.5, replicates=1000, seed=3)
    again = bootstrap_quantile(control, treatment, 0.5, replicates=1000, seed=3)
    assert first == again
    c = first.comparison
    assert c.ci_low_rel < -0.1 < c.ci_high_rel
    assert c.ci_high_rel < 0  # a 10% faster start is detected
    assert c.p_value < 0.01
