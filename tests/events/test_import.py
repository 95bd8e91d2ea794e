"""``import_events`` / ``shoplab events import``: a log's own files in, validated, never modified.

Small hand-made CSV and Parquet sources: every count and timestamp below can be checked by eye.
The bad-input cases each break one thing and expect one message naming the file, the column,
the value and the rule, with nothing written under the data root.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml

from shoplab.core.errors import ConfigError
from shoplab.events import EventImportError, ImportConfig, import_events, load_import_config
from shoplab.events.mapping import ColumnValue

SHOPLAB = str(Path(sys.executable).with_name("shoplab"))
SCHEMA = Path(__file__).parents[2] / "shoplab" / "events" / "schemas" / "import.schema.json"

ASSIGNMENTS = "user,arm,at\n1,control,2026-01-01 10:00\n2,treatment,2026-01-01 11:00\n" \
              "3,treatment,2026-01-02 09:30\n"
ORDERS = "id,buyer,when,amount\n10,1,2026-01-01 12:00,20.5\n11,2,2026-01-02 08:00,-3\n" \
         "12,3,2026-01-03 23:59,7.25\n"


def _mapping(folder: Path, **override: Any) -> dict[str, Any]:
    """Exposures from an assignment system + orders only (no requests, no impressions)."""
    cfg: dict[str, Any] = {
        "sources": {"assign": {"path": "assign.csv"}, "orders": {"path": "orders.csv"}},
        "tables": {
            "exposures": {"source": "assign", "columns": {
                "experiment": {"const": "checkout"}, "variant": "arm", "unit_id": "user",
                "ts": "at"}},
            "orders": {"source": "orders", "columns": {
                "order_id": "id", "request_id": "id", "user_id": "buyer", "item_id": {"const": 0},
                "ts": "when", "quantity": {"const": 1}, "gmv": "amount",
                "refunded": {"const": False}}},
        },
    }
    cfg.update(override)
    path = folder / "import.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return cfg


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "assign.csv").write_text(ASSIGNMENTS)
    (folder / "orders.csv").write_text(ORDERS)
    _mapping(folder)
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_import_writes_daily_partitions_validates_and_leaves_sources_alone(
    data_root: Path, sources: Path
) -> None:
    before = _digests(sources)
    report = import_events(sources / "import.yaml")

    assert _digests(sources) == before
    orders = report["orders"]
    assert (orders.rows_in, orders.load.accepted, orders.load.quarantined) == (3, 2, 1)
    assert orders.load.reasons == {"negative or NaN gmv": 1}
    assert report["exposures"].load.accepted == 3
    assert sorted(p.name for p in (data_root / "events" / "orders").iterdir()) == [
        "2026-01-01.parquet", "2026-01-02.parquet", "2026-01-03.parquet"]
    schema = pq.read_schema(data_root / "events" / "orders" / "2026-01-01.parquet")
    assert str(schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("quantity").type) == "int32"
    exposures = pl.read_parquet(data_root / "events" / "exposures" / "imported.parquet")
    assert exposures["ts"].to_list()[0] == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert json.loads((data_root / "events" / "manifest.json").read_text())["version"]


def test_naive_times_are_read_in_the_configured_zone_and_epochs_in_their_unit(
    data_root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    pl.DataFrame({"u": [1, 2], "v": ["a", "b"], "ms": [1_767_261_600_000, 1_767_265_200_000],
                  "local": [datetime(2026, 1, 1, 9), datetime(2026, 1, 1, 23, 30)]}).write_parquet(
        folder / "part-0.parquet")
    cfg = ImportConfig.model_validate({
        "sources": {"s": {"path": str(folder / "*.parquet")}},
        "timestamps": {"zone": "America/New_York"},
        "tables": {
            "exposures": {"source": "s", "columns": {
                "experiment": {"const": "e"}, "variant": "v", "unit_id": "u",
                "ts": {"column": "ms", "unit": "ms"}}},
            "orders": {"source": "s", "columns": {
                "order_id": "u", "request_id": "u", "user_id": "u", "item_id": {"const": 0},
                "ts": "local", "quantity": {"const": 1}, "gmv": {"const": 1.5},
                "refunded": {"const": False}}},
        }})
    import_events(cfg)
    exp = pl.read_parquet(data_root / "events" / "exposures" / "imported.parquet")
    assert exp["ts"].to_list() == [datetime(2026, 1, 1, 10, tzinfo=UTC),
                                   datetime(2026, 1, 1, 11, tzinfo=UTC)]
    # 23:30 in New York is 04:30 UTC the next day: the partition is the UTC day
    assert sorted(p.name for p in (data_root / "events" / "orders").iterdir()) == [
        "2026-01-01.parquet", "2026-01-02.parquet"]
    orders = pl.read_parquet(data_root / "events" / "orders" / "*.parquet").sort("order_id")
    assert orders["ts"].to_list() == [datetime(2026, 1, 1, 14, tzinfo=UTC),
                                      datetime(2026, 1, 2, 4, 30, tzinfo=UTC)]


def _break_column(folder: Path) -> None:
    _mapping(folder, tables={**_mapping(folder)["tables"], "orders": {
        **_mapping(folder)["tables"]["orders"],
        "columns": {**_mapping(folder)["tables"]["orders"]["columns"], "gmv": "price"}}})


def _break_values(folder: Path) -> None:
    tables = _mapping(folder)["tables"]
    tables["exposures"]["columns"]["variant"] = {"column": "arm", "values": {"control": "c"}}
    _mapping(folder, tables=tables)


def _break_ts(folder: Path) -> None:
    (folder / "orders.csv").write_text(ORDERS.replace("2026-01-02 08:00", "2026-13-02 08:00"))


def _break_delimiter(folder: Path) -> None:
    (folder / "orders.csv").write_text(ORDERS.replace(",", ";"))


def _break_id(folder: Path) -> None:
    (folder / "orders.csv").write_text(ORDERS.replace("\n12,3,", "\nA12,3,"))


def _break_range(folder: Path) -> None:
    (folder / "orders.csv").write_text(ORDERS.splitlines()[0] + "\n")


BAD_INPUT = [
    # (breakage, what the one message must hold: file, column, value, rule)
    (_break_column, ["orders.csv", "'price'", "orders.gmv", "is missing", "'amount'"]),
    (_break_ts, ["orders.csv", "column 'when'", "orders.ts", "row 2", "'2026-13-02 08:00'",
                 "must be a timestamp"]),
    (_break_delimiter, ["orders.csv", "'id;buyer;when;amount'", "['amount', 'buyer', 'id', 'when']",
                        "are missing", "delimited by ';', not ','"]),
    (_break_id, ["orders.csv", "column 'id'", "orders.order_id", "row 3", "'A12'",
                 "must be a 64-bit integer"]),
    (_break_range, ["tables.orders", "'orders'", "no rows"]),
    (_break_values, ["assign.csv", "column 'arm'", "exposures.variant", "row 2", "'treatment'",
                     "must be one of the mapping's values ['control']"]),
]


@pytest.mark.parametrize(("breakage", "expect"), BAD_INPUT,
                         ids=["missing column", "bad timestamp", "delimiter", "mixed ids",
                              "empty range", "unmapped value"])
def test_bad_input_is_one_message_and_nothing_is_written(
    data_root: Path, sources: Path, breakage: Any, expect: list[str]
) -> None:
    breakage(sources)
    before = _digests(sources)
    with pytest.raises(EventImportError) as info:
        import_events(sources / "import.yaml")
    message = str(info.value)
    assert len(info.value.problems) == 1, message
    for part in expect:
        assert part in message, message
    assert _digests(sources) == before
    assert not (data_root / "events").exists()


def test_the_cli_exits_2_with_one_line_and_no_traceback(data_root: Path, sources: Path) -> None:
    _break_id(sources)
    done = subprocess.run([SHOPLAB, "events", "import", str(sources / "import.yaml")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    assert "'A12'" in done.stderr
    assert not (data_root / "events").exists()


def test_the_cli_imports_with_a_source_path_given_on_the_command_line(
    data_root: Path, sources: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text(ORDERS.replace("-3", "3"))
    done = subprocess.run(
        [SHOPLAB, "events", "import", str(sources / "import.yaml"), "--source",
         f"orders={elsewhere}"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "orders" in done.stdout
    assert len(pl.read_parquet(data_root / "events" / "orders" / "*.parquet")) == 3


def test_existing_tables_are_replaced_only_when_asked(data_root: Path, sources: Path) -> None:
    import_events(sources / "import.yaml")
    with pytest.raises(EventImportError, match=r"events/exposures/ has 1 Parquet files"):
        import_events(sources / "import.yaml")
    report = import_events(sources / "import.yaml", replace=True)
    assert report["orders"].load.quarantined == 1  # the old quarantine went with the old files


@pytest.mark.parametrize(("tables", "expect"), [
    ({"clickz": {"source": "s", "columns": {}}}, "unknown table"),
    ({"exposures": {"source": "s", "columns": {"variant": "v"}}},
     "['experiment', 'unit_id', 'ts'] missing"),
    ({"exposures": {"source": "nope", "columns": {}}}, "source == 'nope'"),
])
def test_a_mapping_that_breaks_the_model_is_a_config_error(
    tmp_path: Path, tables: dict[str, Any], expect: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"sources": {"s": {"path": "x.csv"}}, "tables": tables}))
    with pytest.raises(ConfigError, match=r"bad\.yaml") as info:
        load_import_config(path)
    assert expect in str(info.value)


def test_a_value_has_exactly_one_origin() -> None:
    with pytest.raises(ValueError, match="exactly one of column, const, row_number"):
        ColumnValue(column="a", const=1)
    assert ColumnValue(const=0).const == 0  # a falsy constant is still a constant


def test_the_committed_json_schema_is_the_model_s() -> None:
    assert json.loads(SCHEMA.read_text()) == ImportConfig.model_json_schema()


def test_aligned_text_and_first_row_per_key_make_users_from_a_purchase_log(
    data_root: Path, tmp_path: Path
) -> None:
    text = tmp_path / "purchases.txt"
    text.write_text(" id   day  n  usd\r\n 0007 19970102 1  9.50\r\n 0007 19970301 2 20.00\r\n"
                    " 0012 19970105 1  5.25\r\n")
    cfg = ImportConfig.model_validate({
        "sources": {"p": {"path": str(text), "delimiter": "whitespace"}},
        "tables": {"users": {"source": "p", "keep": "first", "columns": {
            "user_id": "id", "signup_ts": {"column": "day", "format": "%Y%m%d"},
            "country": {"const": "US"}, "platform": {"const": "web"}}}}})
    report = import_events(cfg)
    assert (report["users"].rows_in, report["users"].load.quarantined) == (2, 0)
    users = pl.read_parquet(data_root / "events" / "users" / "imported.parquet")
    assert users["user_id"].to_list() == [7, 12]
    assert users["signup_ts"].to_list()[0] == datetime(1997, 1, 2, tzinfo=UTC)


def test_an_orders_only_log_analyses_and_says_what_is_not_available(
    data_root: Path, sources: Path
) -> None:
    from shoplab.analysis.engine import analyze
    from shoplab.analysis.spec import ExperimentSpec, MetricRoles, VariantSpec

    import_events(sources / "import.yaml")
    exp = ExperimentSpec("checkout", "checkout", (VariantSpec("control", 0.5),
                         VariantSpec("treatment", 0.5)), datetime(2026, 1, 1, tzinfo=UTC),
                         datetime(2026, 1, 4, tzinfo=UTC), MetricRoles("buyer_rate", ("ctr",)))
    card = analyze(exp, as_of="2026-01-04", interactions=False, daily=False, cuped=False)
    rows = {r.metric: r for r in card.rows}
    assert rows["ctr"].status == "no_data"
    assert rows["ctr"].detail == "not available: no clicks / impressions table"
    assert rows["buyer_rate"].n_treatment == 2
