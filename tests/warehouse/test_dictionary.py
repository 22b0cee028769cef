"""The data dictionary: the committed file is the generated one, and deployments carry the comments."""

from __future__ import annotations

from pathlib import Path

from warehouse import TABLES, Warehouse
from warehouse.dictionary import (
    DEFAULT_PATH,
    catalog_problems,
    main,
    render_dictionary,
    render_live_dictionary,
)


def test_committed_dictionary_is_generated_from_the_specs() -> None:
    assert DEFAULT_PATH.read_text(encoding="utf-8") == render_dictionary(), (
        "docs/data-dictionary.md is stale: run `python -m warehouse.dictionary`"
    )


def test_dictionary_documents_every_table_and_column() -> None:
    text = render_dictionary()
    for spec in TABLES.values():
        assert f"## {spec.name}\n\n{spec.comment}\n" in text
        for column in spec.columns:
            assert f"| `{column.name}` | {column.type.name} |" in text


def test_main_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "docs" / "dd.md"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_dictionary()


def test_live_dictionary_shows_the_deployed_comments(wh: Warehouse, tmp_path: Path) -> None:
    wh.attach_lake(tmp_path / "lake")
    text = render_live_dictionary(wh)
    for spec in TABLES.values():
        assert f"## {spec.name}" in text
        assert spec.column(spec.key[-1]).comment.replace("|", "\\|") in text
    assert "(no comment)" not in text


def test_catalog_problems_name_what_is_missing(wh: Warehouse) -> None:
    problems = catalog_problems(wh)
    assert problems == ["events: missing (run attach_lake())"]
    wh.execute(
        "COMMENT ON COLUMN alerts.rule IS ''"
        if wh.backend == "duckdb"
        else "ALTER TABLE alerts COMMENT COLUMN rule ''"
    )
    assert "alerts.rule: comment differs from the spec" in catalog_problems(wh)
    wh.create_tables()  # puts the comments back
    assert catalog_problems(wh) == ["events: missing (run attach_lake())"]
