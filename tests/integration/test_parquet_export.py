"""``events export --format parquet``: the same events as the JSON Lines export, one row
each, with typed envelope columns, the payload as JSON, personal fields still encrypted,
written a row group at a time; and the DuckDB queries in docs/history.md run on it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from app import parquet_export
from app.cli import main
from app.runtime import Runtime
from tests.integration.test_cli import _env, _seed

DOCS = Path(__file__).resolve().parents[2] / "docs" / "history.md"
USERS = 5


def _export(tmp_path: Path, *args: str) -> tuple[Path, list[dict[str, Any]]]:
    """Export as Parquet and as JSON Lines with the same filters: (the file, the lines)."""
    env = _env(tmp_path / "var")
    parquet, jsonl = tmp_path / "events.parquet", tmp_path / "events.jsonl"
    for fmt, path in (("parquet", parquet), ("jsonl", jsonl)):
        result = CliRunner().invoke(main, ["events", "export", "--format", fmt, "-o", str(path),
                                           *args], env=env)  # fmt: skip
        assert result.exit_code == 0, result.output
    return parquet, [json.loads(line) for line in jsonl.read_text().splitlines()]


def test_parquet_holds_the_json_lines_export_with_typed_columns(
    tmp_path: Path, runtimes: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(tmp_path, runtimes, users=USERS)
    monkeypatch.setattr(parquet_export, "ROW_GROUP", 4)  # several groups from a small log
    parquet, lines = _export(tmp_path)
    file = pq.ParquetFile(parquet)
    assert file.metadata.num_row_groups == -(-len(lines) // 4) > 1
    assert file.schema_arrow == parquet_export.SCHEMA
    assert file.schema_arrow.field("occurred_at").type == pa.timestamp("us", tz="UTC")
    assert file.schema_arrow.field("payload").type == pa.json_(pa.string())
    rows = file.read().to_pylist()
    assert len(rows) == len(lines)
    for row, line in zip(rows, lines, strict=True):
        event, meta = line["event"], line["event"]["meta"]
        for column in ("position", "aggregate_id", "version", "topic"):
            assert row[column] == line[column], column
        for column in ("event_id", "actor_id", "correlation_id", "causation_id"):
            assert row[column] == meta[column], column
        assert row["schema_version"] == event["schema_version"]
        assert row["occurred_at"] == datetime.fromisoformat(meta["occurred_at"])
        assert json.loads(row["payload"]) == event["data"]
    registered = [r for r in rows if r["topic"] == "identity.AccountRegistered"]
    assert len(registered) == USERS
    for row in registered:  # personal fields: the very ciphertext of the JSON Lines export
        payload = json.loads(row["payload"])
        assert payload["email"].startswith("pii:v1:") and "@example.com" not in row["payload"]


def test_filters_select_the_same_events_in_both_formats(
    tmp_path: Path, runtimes: Callable[..., Runtime]
) -> None:
    _seed(tmp_path, runtimes, users=USERS)
    parquet, lines = _export(tmp_path, "--topic", "identity.AccountRegistered", "--after", "3")
    positions = pq.read_table(parquet, columns=["position"]).column("position").to_pylist()
    assert positions == [line["position"] for line in lines]
    assert 0 < len(positions) < USERS and min(positions) > 3


def _documented_queries() -> list[str]:
    """The ```sql blocks of docs/history.md's Parquet section."""
    text = DOCS.read_text()
    section = text[text.index("### Parquet and DuckDB") :]
    section = section[: section.index("\n## ")]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def test_the_duckdb_queries_in_the_docs_run_on_an_export(
    tmp_path: Path, runtimes: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(tmp_path, runtimes, users=USERS)
    _, lines = _export(tmp_path)
    queries = _documented_queries()
    assert len(queries) >= 2
    monkeypatch.chdir(tmp_path)  # the docs read 'events.parquet' from the working directory
    results = [duckdb.sql(query).fetchall() for query in queries]  # type: ignore[union-attr]
    per_type = {topic: events for topic, events, *_ in results[0]}
    assert per_type["identity.AccountRegistered"] == USERS
    assert sum(per_type.values()) == len(lines)
    by_provider: dict[str, int] = {}
    for _day, provider, count in results[1]:
        by_provider[provider] = by_provider.get(provider, 0) + count
    assert by_provider == {"dev": USERS}
