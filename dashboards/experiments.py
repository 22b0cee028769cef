"""Experiments: the nightly A/B readouts (`ab_readout`) of the latest run up to the end of the time
range — per test, metric and cell the delta against control with its 95% CI, p-value, the
CUPED-adjusted delta, the sample-ratio-mismatch check and the QoE guardrails.
"""

from __future__ import annotations

from dashboards.specs import DashboardSpec, PanelSpec, VariableSpec

__all__ = ["EXPERIMENTS"]

_TESTS = "$__conditionalAll(test_id IN (${test:sqlstring}), $test)"
#: The latest nightly run at or before the end of the selected range.
_LATEST = (
    f"run_date = (SELECT max(run_date) FROM ab_readout WHERE run_date <= toDate($__toTime) AND {_TESTS})"
)

_PANELS = (
    PanelSpec(
        title="Tests with a sample-ratio mismatch",
        kind="stat",
        sql=(
            "SELECT uniqExactIf(test_id, srm_flag) AS srm_tests "
            f"FROM ab_readout WHERE {_LATEST} AND {_TESTS}"
        ),
        columns=("srm_tests",),
        width=6,
        height=4,
        description="Tests whose cell sizes do not match the planned split (p < 0.001): do not trust them.",
    ),
    PanelSpec(
        title="Guardrail breaches",
        kind="stat",
        sql=(
            "SELECT countIf(is_guardrail AND NOT is_control AND coalesce(p_value_adjusted, p_value) < 0.05 "
            "AND delta_rel > 0) "
            f"AS guardrail_breaches FROM ab_readout WHERE {_LATEST} AND {_TESTS}"
        ),
        columns=("guardrail_breaches",),
        width=6,
        height=4,
        description="Treatment cells whose QoE guardrail (play delay, rebuffers, start failures) got "
        "significantly worse (Holm-adjusted p < 0.05; for every guardrail, higher is worse).",
    ),
    PanelSpec(
        title="Tests read out",
        kind="stat",
        sql=(
            "SELECT uniqExact(test_id) AS tests, max(run_date) AS latest_run "
            f"FROM ab_readout WHERE {_LATEST} AND {_TESTS}"
        ),
        columns=("tests", "latest_run"),
        width=12,
        height=4,
    ),
    PanelSpec(
        title="Readout (latest run)",
        kind="table",
        sql=(
            "SELECT test_id, metric, cell, is_control, n, mean, delta_abs, delta_rel, ci_low_rel, "
            "ci_high_rel, "
            "p_value, p_value_adjusted, method, cuped_delta_rel, cuped_p_value, srm_p_value, srm_flag, notes "
            f"FROM ab_readout WHERE {_LATEST} AND {_TESTS} AND NOT is_guardrail "
            "ORDER BY test_id, metric, is_control DESC, cell"
        ),
        columns=(
            "test_id",
            "metric",
            "cell",
            "is_control",
            "n",
            "mean",
            "delta_abs",
            "delta_rel",
            "ci_low_rel",
            "ci_high_rel",
            "p_value",
            "p_value_adjusted",
            "method",
            "cuped_delta_rel",
            "cuped_p_value",
            "srm_p_value",
            "srm_flag",
            "notes",
        ),
        width=24,
        height=10,
        description="Per cell: n, value, delta vs control with 95% CI (relative), p-value (raw and "
        "Holm-adjusted over the test's comparisons), the method, CUPED delta.",
    ),
    PanelSpec(
        title="QoE guardrails (latest run)",
        kind="table",
        sql=(
            "SELECT test_id, metric, cell, n, mean, delta_rel, ci_low_rel, ci_high_rel, p_value_adjusted, "
            "(NOT is_control AND coalesce(p_value_adjusted, p_value) < 0.05 AND delta_rel > 0) AS breached "
            f"FROM ab_readout WHERE {_LATEST} AND {_TESTS} AND is_guardrail "
            "ORDER BY breached DESC, test_id, metric, cell"
        ),
        columns=(
            "test_id",
            "metric",
            "cell",
            "n",
            "mean",
            "delta_rel",
            "ci_low_rel",
            "ci_high_rel",
            "p_value_adjusted",
            "breached",
        ),
        width=24,
    ),
    PanelSpec(
        title="Relative delta by run",
        kind="timeseries",
        sql=(
            "SELECT toDateTime(run_date) AS time, concat(test_id, ' ', metric, ' ', cell) AS series, "
            "delta_rel FROM ab_readout "
            f"WHERE $__dateFilter(run_date) AND {_TESTS} AND NOT is_control AND NOT is_guardrail "
            "ORDER BY time, series"
        ),
        columns=("time", "series", "delta_rel"),
        unit="percentunit",
        width=24,
        description="How each treatment's relative delta evolved over the nightly runs.",
    ),
)

EXPERIMENTS = DashboardSpec(
    uid="playpulse-experiments",
    title="Experiments",
    description="A/B test readouts from the nightly batch: deltas, confidence intervals, CUPED, SRM, "
    "guardrails.",
    panels=_PANELS,
    variables=(
        VariableSpec(
            name="test",
            label="Test",
            sql="SELECT DISTINCT test_id FROM ab_readout WHERE $__dateFilter(run_date) ORDER BY test_id",
            multi=True,
        ),
    ),
    tags=("playpulse", "experiments"),
    time_from="now-14d",
)
