"""VST percentiles of any set of `qoe_minute` rows, merged inside the warehouse (DuckDB or ClickHouse).

Each `qoe_minute` row carries its DDSketch twice: serialized (`vst_sketch`, for programs) and as
two arrays (`vst_bin_keys` ascending, `vst_bin_counts`), which SQL can merge. The zero bucket is
the key `ZERO_KEY` (-2147483648, the smallest int32, so it sorts first). Merging is summing the
counts per key; the q-quantile of merged bins is, exactly as `streaming.sketch.Sketch.quantile`:

    total = Σ counts,  rank = q · (total − 1),
    bin   = the first bin (keys ascending) whose cumulative count exceeds rank (the last bin if none),
    value = 0 for ZERO_KEY, else 2^(key / multiplier) · 2 / (1 + γ)   (the bin's representative value)

so a percentile from SQL equals the Python merge of the same rows' sketches and keeps the 1%
relative-error bound (tests/streaming/test_sketch_sql.py checks both engines).

ClickHouse merges in one aggregate, usable in any GROUP BY query::

    SELECT region, {clickhouse_quantile(0.99, CLICKHOUSE_MERGED_BINS)} AS vst_p99_ms
    FROM qoe_minute WHERE slice = 'region' GROUP BY region

(`sumMap(vst_bin_keys, vst_bin_counts)` is a tuple of the merged keys, ascending, and counts.)
DuckDB has no sumMap; `vst_quantiles_sql("duckdb", ...)` unnests the bins, sums them per key and
ranks them with a window. `vst_quantiles_sql(backend, where=..., group_by=...)` builds the whole
query for either engine: one row per group (groups without any start-up get NULL percentiles),
with `vst_count` (start-ups in the merged sketch) and `vst_p50_ms`, `vst_p90_ms`, … columns.
`where` is SQL over `qoe_minute` columns with `$name` parameters, passed to `Warehouse.query`.
"""

from __future__ import annotations

from collections.abc import Sequence

from streaming.sketch import KEY_MULTIPLIER, KEY_OFFSET, MAPPING, ZERO_KEY
from warehouse.tables import QOE_MINUTE

__all__ = [
    "CLICKHOUSE_MERGED_BINS",
    "DEFAULT_QUANTILES",
    "clickhouse_quantile",
    "value_of_key_sql",
    "vst_quantiles_sql",
]

DEFAULT_QUANTILES = (0.5, 0.9, 0.95, 0.99)
#: The merged bins of the rows of a group, in ClickHouse: (keys ascending, counts).
CLICKHOUSE_MERGED_BINS = "sumMap(vst_bin_keys, vst_bin_counts)"
_FACTOR = 2.0 / (1 + MAPPING.gamma)


def value_of_key_sql(key: str) -> str:
    """SQL (both engines) for the representative value of bin `key` (`streaming.sketch.values_of`)."""
    exponent = f"({key} - {KEY_OFFSET!r}) / {KEY_MULTIPLIER!r}"
    return f"if({key} = {ZERO_KEY}, 0.0, pow(2.0, {exponent}) * {_FACTOR!r})"


def _check_quantile(q: float) -> float:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} is outside [0, 1]; write the 99th percentile as 0.99")
    return float(q)


def clickhouse_quantile(q: float, bins: str = CLICKHOUSE_MERGED_BINS) -> str:
    """ClickHouse: the q-quantile of merged bins `bins` (a (keys, counts) tuple); NULL when empty."""
    q = _check_quantile(q)
    counts = f"({bins}).2"
    rank = f"{q!r} * (arraySum({counts}) - 1)"
    index = f"least(arrayCount(c -> c <= {rank}, arrayCumSum({counts})) + 1, length({counts}))"
    key = f"arrayElement(({bins}).1, {index})"
    return f"if(arraySum({counts}) > 0, {value_of_key_sql(key)}, NULL)"


def _identifiers(group_by: Sequence[str]) -> list[str]:
    unknown = [g for g in group_by if g not in QOE_MINUTE.column_names]
    if unknown:
        raise ValueError(
            f"cannot group qoe_minute by {unknown}: not columns of it; choose from "
            f"{', '.join(QOE_MINUTE.column_names)}"
        )
    return list(group_by)


def _column_name(q: float) -> str:
    """0.5 → vst_p50_ms, 0.999 → vst_p99_9_ms."""
    percent = f"{q * 100:.6g}".replace(".", "_")
    return f"vst_p{percent}_ms"


def vst_quantiles_sql(
    backend: str,
    *,
    where: str = "true",
    group_by: Sequence[str] = (),
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> str:
    """A query over `qoe_minute`: per group, the VST quantiles of the merged sketches of its rows.

    `backend` is "duckdb" or "clickhouse"; `group_by` names qoe_minute columns (none: one row over
    every row selected by `where`). Columns: the group columns, `vst_count`, then one `vst_pNN_ms`
    per quantile (0.5 → vst_p50_ms, 0.999 → vst_p99_9_ms).
    """
    groups = _identifiers(group_by)
    qs = [_check_quantile(q) for q in quantiles]
    names = [_column_name(q) for q in qs]
    if backend == "clickhouse":
        return _clickhouse(where, groups, qs, names)
    if backend == "duckdb":
        return _duckdb(where, groups, qs, names)
    raise ValueError(f"unknown warehouse backend {backend!r}; use 'duckdb' or 'clickhouse'")


def _clickhouse(where: str, groups: list[str], qs: list[float], names: list[str]) -> str:
    select = ", ".join(groups + ["arraySum(vst_bins.2) AS vst_count"])
    percentiles = ", ".join(
        f"{clickhouse_quantile(q, 'vst_bins')} AS {name}" for q, name in zip(qs, names, strict=True)
    )
    group = f" GROUP BY {', '.join(groups)}" if groups else ""
    inner_groups = "".join(f"{g}, " for g in groups)
    return (
        f"SELECT {select}, {percentiles} FROM ("
        f"SELECT {inner_groups}{CLICKHOUSE_MERGED_BINS} AS vst_bins FROM qoe_minute WHERE {where}{group})"
        + (f" ORDER BY {', '.join(groups)}" if groups else "")
    )


def _duckdb(where: str, groups: list[str], qs: list[float], names: list[str]) -> str:
    # With no group, one constant group column stands for "all rows".
    keys = groups or ["_all"]
    constant = "" if groups else "true AS _all, "
    cols = ", ".join(keys)
    first_bins = ", ".join(
        f"coalesce(min(k) FILTER (WHERE cum > {q!r} * (total - 1)), max(k)) AS _k{i}"
        for i, q in enumerate(qs)
    )
    percentiles = ", ".join(
        f"CASE WHEN total > 0 THEN {value_of_key_sql(f'_k{i}')} END AS {name}" for i, name in enumerate(names)
    )
    out = ", ".join(groups + ["coalesce(total, 0.0) AS vst_count", percentiles])
    return (
        f"WITH source AS (SELECT {constant}* FROM qoe_minute WHERE {where}), "
        f"groups AS (SELECT DISTINCT {cols} FROM source), "
        f"bins AS (SELECT {cols}, unnest(vst_bin_keys) AS k, unnest(vst_bin_counts) AS c FROM source), "
        f"merged AS (SELECT {cols}, k, sum(c) AS c FROM bins GROUP BY {cols}, k), "
        f"ranked AS (SELECT {cols}, k, sum(c) OVER (PARTITION BY {cols} ORDER BY k) AS cum, "
        f"sum(c) OVER (PARTITION BY {cols}) AS total FROM merged), "
        f"picked AS (SELECT {cols}, max(total) AS total, {first_bins} FROM ranked GROUP BY {cols}) "
        f"SELECT {out} FROM groups LEFT JOIN picked USING ({cols})"
        + (f" ORDER BY {cols}" if groups else "")
    )
