"""Validate a table's rows of one run date with Great Expectations, then publish them — or refuse.

Guarantees:

- `validate` never writes: it pulls the rows into a GX pandas datasource (ephemeral context, no
  files, no progress bars; DATE columns as ISO strings so date expectations read naturally) and
  returns a `QualityReport` with one `ExpectationResult` per expectation, spec-derived ones first.
- `publish` writes with `Warehouse.replace_partition`, so the run date's rows are replaced whole
  and nothing else changes; `validate_and_publish` publishes only when every expectation passed,
  and otherwise raises `QualityError` and leaves the table as it was.
- `QualityError`'s message names each failed expectation (type, column, arguments) and what was
  observed (unexpected count and examples, or the observed value); `.report` keeps the GX result.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import great_expectations as gx
import pandas as pd
import pyarrow as pa
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations import Expectation

from warehouse.base import Warehouse
from warehouse.logical_types import LogicalType
from warehouse.quality.spec import spec_expectations
from warehouse.tables import Table

__all__ = [
    "ExpectationResult",
    "QualityError",
    "QualityReport",
    "publish",
    "validate",
    "validate_and_publish",
]

_KWARGS_SHOWN = (
    "column", "column_list", "column_A", "column_B", "min_value", "max_value", "value", "value_set",
)


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation: its type, arguments, success and what was observed."""

    expectation: str
    kwargs: dict[str, Any]
    success: bool
    observed: str

    def describe(self) -> str:
        shown = ", ".join(f"{k}={_short(self.kwargs[k])}" for k in _KWARGS_SHOWN if k in self.kwargs)
        return f"{self.expectation}({shown}): {self.observed}"


@dataclass(frozen=True)
class QualityReport:
    """Every expectation's outcome for one table and run date, and the raw GX validation result."""

    table: str
    run_date: dt.date
    rows: int
    results: tuple[ExpectationResult, ...]
    gx_result: ExpectationSuiteValidationResult

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def failed(self) -> tuple[ExpectationResult, ...]:
        return tuple(r for r in self.results if not r.success)

    def summary(self) -> str:
        passed = len(self.results) - len(self.failed)
        total = len(self.results)
        return f"{self.table} {self.run_date}: {passed}/{total} expectations passed on {self.rows:,} rows"


class QualityError(Exception):
    """Rows failed their table's suite; nothing was published. `.report` holds every outcome."""

    def __init__(self, report: QualityReport) -> None:
        self.report = report
        lines = [f"{report.table} for {report.run_date} failed validation; published data left unchanged:"]
        lines += [f"  ✗ {r.describe()}" for r in report.failed]
        super().__init__("\n".join(lines))


def validate(
    table: Table, rows: pa.Table, run_date: dt.date, expectations: Sequence[Expectation] = ()
) -> QualityReport:
    """Run the spec's expectations and `expectations` on `rows` (conformed to `table`)."""
    suite_items = [*spec_expectations(table, run_date), *expectations]
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("playpulse").add_dataframe_asset(table.name)
    batch = asset.add_batch_definition_whole_dataframe(str(run_date)).get_batch(
        batch_parameters={"dataframe": _frame(table, rows)}
    )
    suite = gx.ExpectationSuite(name=f"{table.name}_nightly")
    for expectation in suite_items:
        suite.add_expectation(expectation)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    result = batch.validate(suite)
    outcomes = tuple(
        ExpectationResult(
            r.expectation_config.type,
            {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},
            bool(r.success),
            _observed(r.result, r.exception_info),
        )
        for r in result.results
    )
    return QualityReport(table.name, run_date, rows.num_rows, outcomes, result)


def publish(warehouse: Warehouse, table: Table, rows: pa.Table, run_date: dt.date) -> int:
    """Replace `table`'s rows of `run_date` with `rows`; returns the rows written."""
    assert table.partition_column is not None
    return warehouse.replace_partition(table, rows, table.partition_column, run_date)


def validate_and_publish(
    warehouse: Warehouse,
    table: Table,
    rows: pa.Table,
    run_date: dt.date,
    expectations: Sequence[Expectation] = (),
) -> QualityReport:
    """Validate, then publish when every expectation passed; else raise QualityError, writing nothing."""
    report = validate(table, rows, run_date, expectations)
    if not report.success:
        raise QualityError(report)
    publish(warehouse, table, rows, run_date)
    return report


def _frame(table: Table, rows: pa.Table) -> pd.DataFrame:
    """Rows as pandas for GX: conformed to the spec, DATE columns as ISO strings."""
    conformed = table.conform(rows)
    for index, column in enumerate(table.columns):
        if column.type is LogicalType.DATE:
            conformed = conformed.set_column(
                index, column.name, conformed.column(index).cast(pa.string())
            )
    return conformed.to_pandas(types_mapper=None)


def _observed(result: dict[str, Any], exception_info: Any) -> str:
    if exception_info and isinstance(exception_info, dict) and exception_info.get("raised_exception"):
        return f"could not be evaluated: {exception_info.get('exception_message')}"
    if "unexpected_count" in result:
        examples = result.get("partial_unexpected_list") or []
        text = f"{result['unexpected_count']} unexpected value(s)"
        if result.get("unexpected_percent") is not None:
            text += f" ({result['unexpected_percent']:.3g}%)"
        if examples:
            text += f", e.g. {_short(examples[:5])}"
        return text
    if "observed_value" in result:
        return f"observed {_short(result['observed_value'])}"
    return "no observation"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
