"""A/B readout statistics as pure functions over per-cell summary rows, in the manner of GrowthBook's gbstats.

Spark reduces members to one summary row per test × cell × metric (counts, sums, sums of squares
and cross products); everything here works on those rows only, with no I/O, and every summary is
mergeable (`+`). Conventions (α = 1 − confidence, two-sided):

- **Mean metrics** (`SampleMean`: n, Σx, Σx²; variance with n − 1): absolute delta with Welch's
  t-test and CI (Welch–Satterthwaite degrees of freedom), exactly `scipy.stats.ttest_ind(…,
  equal_var=False)`.
- **Proportions** (`Proportion`: n, Σx over 0/1 values; variance p(1 − p)): Wald z-test and CI,
  exactly statsmodels' `test_proportions_2indep` / `confint_proportions_2indep(method="wald")`.
- **Ratio metrics** (`Ratio`: a ratio of two per-member sums, e.g. completions ÷ sessions, with Σm,
  Σm², Σd, Σd², Σmd): the ratio of cell totals, its variance by the delta method
  Var(M̄/D̄) ≈ (σ²_m − 2rσ_md + r²σ²_d) / (n μ_d²); z-test and CI.
- **Relative lift** (all of the above): (μ_t / μ_c) − 1 with the delta-method variance
  σ²_t/(n_t μ_c²) + σ²_c μ_t²/(n_c μ_c⁴) (for ratios, σ² is the linearized per-member variance),
  and the CI of the absolute delta's distribution (t with the Welch df for means, z otherwise).
- **CUPED** (`Cuped`: the post-period metric y and the same metric in the pre-period x per
  member): θ = pooled within-cell slope Σ(x−x̄_k)(y−ȳ_k) / Σ(x−x̄_k)², the same θ in both cells, so
  the adjusted delta (ȳ_t − ȳ_c) − θ(x̄_t − x̄_c) equals the treatment coefficient of OLS
  y ~ 1 + treatment + x; its CI and p-value are Welch's over the adjusted values y − θx.
- **SRM**: Pearson's χ² of observed members per cell against the planned split
  (`scipy.stats.chisquare`); the readout is flagged when p < the threshold (default 0.001).
- **Quantiles** (VST p50/p95 from `Histogram`s of DDSketch bins, 1% relative accuracy): percentile
  bootstrap of the difference of quantiles, resampling each cell's sessions as a multinomial draw
  over its bins (sessions treated as independent), seeded, so a re-run gives the same interval.
- **Multiple comparisons**: Holm's step-down adjustment over a test's comparisons
  (`statsmodels.stats.multitest.multipletests(method="holm")`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from streaming.sketch import values_of

__all__ = [
    "Comparison",
    "Cuped",
    "Histogram",
    "Proportion",
    "Ratio",
    "SampleMean",
    "Srm",
    "bootstrap_quantile",
    "compare",
    "cuped",
    "holm",
    "srm",
]


@dataclass(frozen=True)
class SampleMean:
    """A mean metric per member: n, Σx, Σx²."""

    n: int
    sum: float
    sum_squares: float

    def __add__(self, other: SampleMean) -> SampleMean:
        return SampleMean(self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares)

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Sample variance (n − 1)."""
        if self.n < 2:
            return math.nan
        return max((self.sum_squares - self.sum**2 / self.n) / (self.n - 1), 0.0)


@dataclass(frozen=True)
class Proportion:
    """A 0/1 metric per member: n, Σx."""

    n: int
    sum: float

    def __add__(self, other: Proportion) -> Proportion:
        return Proportion(self.n + other.n, self.sum + other.sum)

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """p(1 − p), the Wald variance of one member."""
        p = self.mean
        return p * (1 - p)


@dataclass(frozen=True)
class Ratio:
    """A ratio of per-member sums (numerator m, denominator d): n, Σm, Σm², Σd, Σd², Σmd."""

    n: int
    m_sum: float
    m_sum_squares: float
    d_sum: float
    d_sum_squares: float
    md_sum: float

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(
            self.n + other.n,
            self.m_sum + other.m_sum,
            self.m_sum_squares + other.m_sum_squares,
            self.d_sum + other.d_sum,
            self.d_sum_squares + other.d_sum_squares,
            self.md_sum + other.md_sum,
        )

    @property
    def mean(self) -> float:
        return self.m_sum / self.d_sum if self.d_sum else math.nan

    @property
    def variance(self) -> float:
        """Per-member variance of the linearized ratio, (σ²_m − 2rσ_md + r²σ²_d) / μ_d² (n − 1 moments)."""
        n = self.n
        if n < 2 or not self.d_sum:
            return math.nan
        var_m = (self.m_sum_squares - self.m_sum**2 / n) / (n - 1)
        var_d = (self.d_sum_squares - self.d_sum**2 / n) / (n - 1)
        cov = (self.md_sum - self.m_sum * self.d_sum / n) / (n - 1)
        r = self.mean
        mu_d = self.d_sum / n
        return max((var_m - 2 * r * cov + r * r * var_d) / (mu_d * mu_d), 0.0)


Statistic = SampleMean | Proportion | Ratio


@dataclass(frozen=True)
class Comparison:
    """Treatment vs control: absolute and relative delta with CIs, p-value, and how they were computed."""

    delta_abs: float
    ci_low_abs: float
    ci_high_abs: float
    delta_rel: float
    ci_low_rel: float
    ci_high_rel: float
    p_value: float
    method: str


def _welch_df(var_c: float, n_c: int, var_t: float, n_t: int) -> float:
    a, b = var_c / n_c, var_t / n_t
    denominator = a * a / (n_c - 1) + b * b / (n_t - 1)
    return (a + b) ** 2 / denominator if denominator > 0 else math.inf


def compare(control: Statistic, treatment: Statistic, confidence: float = 0.95) -> Comparison:
    """Absolute and relative difference treatment − control (see the module docstring for the methods)."""
    if type(control) is not type(treatment):
        raise TypeError(f"cannot compare a {type(control).__name__} with a {type(treatment).__name__}")
    nan = Comparison(*(math.nan,) * 7, method="insufficient data")
    if control.n < 2 or treatment.n < 2:
        return nan
    mu_c, mu_t = control.mean, treatment.mean
    var_c, var_t = control.variance, treatment.variance
    if not (math.isfinite(mu_c) and math.isfinite(mu_t) and math.isfinite(var_c) and math.isfinite(var_t)):
        return nan
    se2_c, se2_t = var_c / control.n, var_t / treatment.n
    delta = mu_t - mu_c
    se = math.sqrt(se2_c + se2_t)
    if isinstance(control, SampleMean):
        df = _welch_df(var_c, control.n, var_t, treatment.n)
        dist = stats.t(df) if math.isfinite(df) else stats.norm()
        method = "welch t"
    else:
        dist = stats.norm()
        method = "wald z" if isinstance(control, Proportion) else "delta method z"
    alpha = 1 - confidence
    crit = float(dist.ppf(1 - alpha / 2))
    p_value = float(2 * dist.sf(abs(delta) / se)) if se > 0 else float(delta == 0)
    if mu_c != 0:
        rel = mu_t / mu_c - 1
        se_rel = math.sqrt(se2_t / mu_c**2 + se2_c * mu_t**2 / mu_c**4)
        rel_ci = (rel - crit * se_rel, rel + crit * se_rel)
    else:
        rel, rel_ci = math.nan, (math.nan, math.nan)
    return Comparison(delta, delta - crit * se, delta + crit * se, rel, *rel_ci, p_value, method)


@dataclass(frozen=True)
class Cuped:
    """A member's metric y in the test and the same metric x in the pre-period: n, Σy, Σy², Σx, Σx², Σxy."""

    n: int
    y_sum: float
    y_sum_squares: float
    x_sum: float
    x_sum_squares: float
    xy_sum: float

    def __add__(self, other: Cuped) -> Cuped:
        return Cuped(
            self.n + other.n,
            self.y_sum + other.y_sum,
            self.y_sum_squares + other.y_sum_squares,
            self.x_sum + other.x_sum,
            self.x_sum_squares + other.x_sum_squares,
            self.xy_sum + other.xy_sum,
        )

    def _centered(self) -> tuple[float, float, float]:
        """Within-cell Σ(x−x̄)², Σ(x−x̄)(y−ȳ), Σ(y−ȳ)²."""
        n = self.n
        sxx = self.x_sum_squares - self.x_sum**2 / n
        sxy = self.xy_sum - self.x_sum * self.y_sum / n
        syy = self.y_sum_squares - self.y_sum**2 / n
        return sxx, sxy, syy


@dataclass(frozen=True)
class CupedResult:
    """The CUPED-adjusted comparison and the θ it used."""

    delta_abs: float
    ci_low_abs: float
    ci_high_abs: float
    delta_rel: float
    p_value: float
    theta: float


def cuped(control: Cuped, treatment: Cuped, confidence: float = 0.95) -> CupedResult | None:
    """CUPED-adjusted delta (see the module docstring); None when there is too little data or no variance."""
    if control.n < 2 or treatment.n < 2:
        return None
    sxx_c, sxy_c, syy_c = control._centered()
    sxx_t, sxy_t, syy_t = treatment._centered()
    if sxx_c + sxx_t <= 0:
        return None
    theta = (sxy_c + sxy_t) / (sxx_c + sxx_t)

    def adjusted_variance(sxx: float, sxy: float, syy: float, n: int) -> float:
        # Variance of y − θx within the cell (n − 1).
        return max((syy - 2 * theta * sxy + theta * theta * sxx) / (n - 1), 0.0)

    var_c = adjusted_variance(sxx_c, sxy_c, syy_c, control.n)
    var_t = adjusted_variance(sxx_t, sxy_t, syy_t, treatment.n)
    mean_y_c, mean_y_t = control.y_sum / control.n, treatment.y_sum / treatment.n
    mean_x_c, mean_x_t = control.x_sum / control.n, treatment.x_sum / treatment.n
    delta = (mean_y_t - mean_y_c) - theta * (mean_x_t - mean_x_c)
    se = math.sqrt(var_c / control.n + var_t / treatment.n)
    df = _welch_df(var_c, control.n, var_t, treatment.n)
    dist = stats.t(df) if math.isfinite(df) else stats.norm()
    crit = float(dist.ppf(1 - (1 - confidence) / 2))
    p_value = float(2 * dist.sf(abs(delta) / se)) if se > 0 else (1.0 if delta == 0 else 0.0)
    rel = delta / mean_y_c if mean_y_c else math.nan
    return CupedResult(delta, delta - crit * se, delta + crit * se, rel, p_value, theta)


@dataclass(frozen=True)
class Srm:
    """Sample-ratio-mismatch check of one test."""

    chi2: float
    p_value: float
    flagged: bool
    observed: dict[str, int]
    expected_share: dict[str, float]


def srm(observed: dict[str, int], weights: dict[str, float], threshold: float = 0.001) -> Srm:
    """Pearson's χ² of members per cell against the planned weights (a cell not observed counts 0)."""
    cells = list(weights)
    unknown = [c for c in observed if c not in weights]
    if unknown:
        raise ValueError(f"cells {unknown} are not in the planned split {cells}")
    total_weight = sum(weights.values())
    shares = {c: weights[c] / total_weight for c in cells}
    counts = np.array([observed.get(c, 0) for c in cells], dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return Srm(math.nan, math.nan, False, {c: 0 for c in cells}, shares)
    expected = total * np.array([shares[c] for c in cells])
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    p_value = float(stats.chi2.sf(chi2, len(cells) - 1))
    return Srm(chi2, p_value, p_value < threshold, {c: int(observed.get(c, 0)) for c in cells}, shares)


@dataclass(frozen=True)
class Histogram:
    """Values bucketed in DDSketch bins (1% relative accuracy): bin keys ascending and their counts.

    Zero values are not represented (start-up times are ≥ 100 ms); a quantile is the representative
    value of the bin holding rank q·(n − 1), as `streaming.sketch.Sketch.quantile` computes it.
    """

    keys: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def quantile(self, q: float) -> float:
        if self.n == 0:
            return math.nan
        return float(_quantiles(self.counts[None, :], self.keys, q)[0])


def _quantiles(counts: np.ndarray, keys: np.ndarray, q: float) -> np.ndarray:
    """Quantile q of each row of `counts` (rows × bins over `keys`)."""
    cumulative = np.cumsum(counts, axis=1)
    rank = q * (cumulative[:, -1] - 1)
    index = (cumulative > rank[:, None]).argmax(axis=1)
    return values_of(keys[index].astype(np.float64))


@dataclass(frozen=True)
class QuantileComparison:
    """Bootstrap comparison of one quantile between two cells."""

    control: float
    treatment: float
    comparison: Comparison


def bootstrap_quantile(
    control: Histogram,
    treatment: Histogram,
    q: float,
    *,
    confidence: float = 0.95,
    replicates: int = 2000,
    seed: int = 0,
) -> QuantileComparison:
    """Percentile-bootstrap CI of the absolute and relative difference of quantile q (treatment − control)."""
    q_c, q_t = control.quantile(q), treatment.quantile(q)
    if control.n < 2 or treatment.n < 2:
        return QuantileComparison(q_c, q_t, Comparison(*(math.nan,) * 7, method="insufficient data"))
    rng = np.random.default_rng(seed)

    def resample(h: Histogram) -> np.ndarray:
        draws = rng.multinomial(h.n, h.counts / h.n, size=replicates)
        return _quantiles(draws, h.keys, q)

    boot_c, boot_t = resample(control), resample(treatment)
    diff = boot_t - boot_c
    rel = boot_t / boot_c - 1
    alpha = 1 - confidence
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    p_value = float(min(1.0, 2 * min((diff <= 0).mean(), (diff >= 0).mean())))
    comparison = Comparison(
        q_t - q_c,
        float(np.percentile(diff, lo)),
        float(np.percentile(diff, hi)),
        q_t / q_c - 1,
        float(np.percentile(rel, lo)),
        float(np.percentile(rel, hi)),
        p_value,
        f"bootstrap ({replicates} replicates)",
    )
    return QuantileComparison(q_c, q_t, comparison)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (NaN stays NaN and does not count as a comparison)."""
    values = np.asarray(p_values, dtype=np.float64)
    valid = np.flatnonzero(~np.isnan(values))
    out = np.full(values.shape, np.nan)
    m = len(valid)
    if m == 0:
        return out.tolist()
    order = valid[np.argsort(values[valid], kind="stable")]
    adjusted = np.maximum.accumulate(values[order] * (m - np.arange(m)))
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()
