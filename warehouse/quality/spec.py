"""Expectations every nightly table gets from its spec in `warehouse.tables`, for one run date.

- the key is unique (compound) and its columns are never NULL;
- every NOT NULL column holds no NULL;
- every row belongs to the run date's partition (partition column = run date).
"""

from __future__ import annotations

import datetime as dt

import great_expectations as gx
from great_expectations.expectations import Expectation

from warehouse.tables import Table

__all__ = ["spec_expectations"]


def spec_expectations(table: Table, run_date: dt.date) -> list[Expectation]:
    """The expectations implied by `table`'s spec for the rows of `run_date`."""
    out: list[Expectation] = []
    if len(table.key) > 1:
        out.append(gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(table.key)))
    else:
        out.append(gx.expectations.ExpectColumnValuesToBeUnique(column=table.key[0]))
    for column in table.columns:
        if not column.nullable:
            out.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=column.name))
    if table.partition_column is not None:
        out.append(
            gx.expectations.ExpectColumnValuesToBeInSet(
                column=table.partition_column, value_set=[run_date.isoformat()]
            )
        )
    return out
