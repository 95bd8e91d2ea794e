"""File-level contract: a file that cannot be read as its table is an error naming file, column
and expected type, and nothing on disk moves; plus the CLI of the event log."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from shoplab.cli import app
from shoplab.core.contract import arrow_schema
from shoplab.events import EventLogError, load_events
from tests.events.test_events import VALID, clk, write_log

IMPRESSIONS = "impressions/2026-01-01.parquet"


def _table(rel: str) -> pa.Table:
    return pa.Table.from_pylist(VALID[rel], schema=arrow_schema(rel.split("/")[0]))


def _digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize(
    ("column", "new_type", "message"),
    [
        ("position", pa.int64(), "column 'position' has type int64, must be int32."),
        ("ts", pa.timestamp("ns", tz="UTC"),
         "column 'ts' has type timestamp[ns, tz=UTC], must be timestamp[us, tz=UTC]."),
        ("ts", pa.timestamp("us"),
         "column 'ts' has type timestamp[us], must be timestamp[us, tz=UTC]."),
        ("user_id", pa.string(), "column 'user_id' has type string, must be int64."),
    ],
)
def test_a_column_of_the_wrong_type_names_file_column_and_type(
    data_root: Path, column: str, new_type: pa.DataType, message: str
) -> None:
    write_log(data_root)
    path = data_root / "events" / IMPRESSIONS
    t = _table(IMPRESSIONS)
    i = t.schema.get_field_index(column)
    t = t.set_column(i, pa.field(column, new_type), t.column(column).cast(new_type))
    pq.write_table(t, path)
    with pytest.raises(EventLogError) as err:
        load_events()
    assert str(err.value) == f"{path}: {message}"
    assert (err.value.path, err.value.column) == (path, column)


def test_a_missing_column_names_file_column_and_type(data_root: Path) -> None:
    write_log(data_root)
    path = data_root / "events" / IMPRESSIONS
    pq.write_table(_table(IMPRESSIONS).drop_columns(["position"]), path)
    with pytest.raises(EventLogError, match="column 'position' is missing, must be present with "
                                            "type int32") as err:
        load_events()
    assert str(path) in str(err.value)
    assert err.value.expected == "int32"


@pytest.mark.parametrize(
    ("name", "content"),
    [("2026-01-03.parquet", b"PAR1 this is not parquet"), ("2026-01-03.csv", b"request_id\n1\n")],
)
def test_a_file_that_is_not_parquet_is_an_error(data_root: Path, name: str, content: bytes) -> None:
    write_log(data_root)
    path = data_root / "events" / "clicks" / name
    path.write_bytes(content)
    with pytest.raises(EventLogError, match="not a Parquet file") as err:
        load_events()
    assert str(path) in str(err.value)
    assert err.value.path == path


def test_nothing_moves_when_a_file_fails_the_check(data_root: Path) -> None:
    # clicks hold a bad row, but orders (validated later) hold a broken file: no partial run.
    write_log(data_root, {"clicks/2026-01-01.parquet": [clk(2, 2, 2, "2026-01-01 11:00:05")]})
    (data_root / "events" / "orders" / "2026-01-03.parquet").write_bytes(b"garbage")
    before = _digests(data_root)
    with pytest.raises(EventLogError):
        load_events()
    after = _digests(data_root)
    assert {k: v for k, v in after.items() if "/tmp/duckdb/" not in k} == before
    assert not (data_root / "quarantine").exists()


def test_unknown_table_names_are_an_error(data_root: Path) -> None:
    with pytest.raises(EventLogError, match=r"tables == \['click'\], must be among \['users'"):
        load_events(["click"])


def test_plain_string_columns_and_extra_columns_are_accepted_and_kept(data_root: Path) -> None:
    write_log(data_root)
    rel = "requests/2026-01-01.parquet"
    schema = pa.schema([pa.field(f.name, pa.string()) if f.type == pa.large_string() else f
                        for f in arrow_schema("requests")])
    rows = [*VALID[rel], {**VALID[rel][0], "request_id": 9, "surface": "homepage"}]
    t = pa.Table.from_pylist(rows, schema=schema)
    t = t.append_column("app_version", pa.array(["1.0"] * t.num_rows))
    pq.write_table(t, data_root / "events" / rel)
    report = load_events()
    assert report["requests"].reasons == {"unknown surface": 1}
    kept = pq.read_table(data_root / "events" / rel)
    assert kept.schema == t.schema  # the producer's own types and extra column survive
    assert kept.num_rows == len(VALID[rel])


def test_cli_validate_prints_the_report(data_root: Path) -> None:
    write_log(data_root, {"clicks/2026-01-01.parquet": [clk(2, 2, 2, "2026-01-01 11:00:05")]})
    result = CliRunner().invoke(app, ["events", "validate"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "click without impression: 1" in result.output
    assert "quarantined" in result.output


def test_cli_validate_fails_cleanly_on_a_bad_file(data_root: Path) -> None:
    write_log(data_root)
    (data_root / "events" / "clicks" / "junk.parquet").write_bytes(b"junk")
    result = CliRunner().invoke(app, ["events", "validate"])
    assert result.exit_code == 1
    assert "not a Parquet file" in result.output


def test_cli_simulate_writes_the_log_and_prints_a_summary(data_root: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--users", "2000", "--items", "300", "--days", "2", "--seed", "4",
              "--start", "2026-05-01", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert "impressions" in result.output
    assert "CTR" in result.output
    assert (data_root / "events" / "impressions" / "2026-05-02.parquet").exists()
    rows = pq.read_table(data_root / "events" / "impressions").num_rows
    assert f"{rows:,}" in result.output


def test_cli_simulate_rejects_a_bad_start(data_root: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--days", "1", "--start", "May 1st"])
    assert result.exit_code != 0
    assert "must be an ISO date" in result.output


def test_events_package_surface_is_exactly_all() -> None:
    import shoplab.events as events

    assert sorted(events.__all__) == [
        "EventImportError", "EventLogError", "ImportConfig", "ImportReport", "LoadReport",
        "TableImport", "TableLoad", "import_events", "load_events", "load_import_config",
    ]
    assert issubclass(events.EventLogError, ValueError)


def test_event_errors_sit_in_the_tree(data_root: Path) -> None:
    from shoplab.core.errors import DataError, NotFoundError, ShoplabError

    write_log(data_root)
    report = load_events(["users"])
    with pytest.raises(NotFoundError, match=r"^table == 'clicks', must be one of \['users'\]\.$"):
        report["clicks"]
    with pytest.raises(KeyError):  # what a lookup raised before the tree: still caught
        report["clicks"]
    with pytest.raises(DataError, match="must be among"):
        load_events(["click"])
    assert issubclass(EventLogError, ShoplabError)


def test_daily_files_are_dated_by_their_exact_name(data_root: Path) -> None:
    """``x-2026-01-01.parquet`` is not the day file of 2026-01-01: its rows meet the log end."""
    from shoplab.events.files import discover

    write_log(data_root)
    folder = data_root / "events" / "clicks"
    (folder / "2026-01-01.parquet").rename(folder / "late-2026-01-01.parquet")
    days = {f.path.name: f.day for f in discover("clicks")}
    assert days["late-2026-01-01.parquet"] is None
    assert all(d is not None for n, d in days.items() if n != "late-2026-01-01.parquet")
