"""Data quality of the warehouse's nightly tables: Great Expectations suites and write → audit → publish.

One module per table (`sessions`, `engagement_daily`, `ab_readout`, …) exports
`expectations(run_date, facts) -> list[Expectation]`: what that table's rows of one run date must
meet beyond what its spec already implies. `spec_expectations(table, run_date)` derives the rest
from `warehouse.tables` (key unique and not null, NOT NULL columns, partition = run date), so a
suite never repeats the DDL.

`validate(table, rows, expectations)` runs them with Great Expectations 1.x on the rows pulled into
its pandas datasource and returns a `QualityReport`; `publish(warehouse, table, rows, run_date)`
replaces the run date's partition. `QualityError` carries the failed report: its message names
every failed expectation, its column and what was observed.
"""

from warehouse.quality.spec import spec_expectations
from warehouse.quality.validation import (
    ExpectationResult,
    QualityError,
    QualityReport,
    publish,
    validate,
    validate_and_publish,
)

__all__ = [
    "ExpectationResult",
    "QualityError",
    "QualityReport",
    "publish",
    "spec_expectations",
    "validate",
    "validate_and_publish",
]
