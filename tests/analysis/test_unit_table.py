"""The unit table: the streamed scan (DuckDB → NumPy) equals the pure SQL aggregate, and a built
table handed on explicitly (``UnitTable``) equals a fresh build.

Both builds render the one definition of each unit column (``unit_query.COLUMN_SQL``) and of each
metric's variables (``variables.metric_variables``); these tests are what makes the NumPy fast path
safe to keep: every column per unit, and every catalog metric's four variables per unit and its
sufficient statistics, agree to 1e-9.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shoplab.analysis.metrics import UNIT_COLUMNS, load_metric_catalog
from shoplab.analysis.reduce import reduce_statistics, winsorize_caps
from shoplab.analysis.spec import scorecard_metrics
from shoplab.analysis.unit_base import build_unit_base
from shoplab.analysis.unit_query import UnitQuery
from shoplab.analysis.unit_table import (
    UnitTable,
    build_sql_unit_table,
    build_unit_table,
    fetch_polars,
)
from shoplab.analysis.variables import (
    metric_sql,
    metric_variables,
    unit_columns_for,
    variables_array,
)
from shoplab.benchmarks.analysis import START
from shoplab.core.duck import connect
from tests.analysis.builders import make_experiment

ALL8 = [
    "ctr",
    "cvr",
    "gmv_per_user",
    "orders_per_user",
    "aov",
    "buyer_rate",
    "refund_rate",
    "new_item_exposure_share",
]


def test_scan_equals_pure_sql_on_every_unit_column_and_every_catalog_metric(
    use_log: Path,
) -> None:
    exp = make_experiment()
    catalog = list(load_metric_catalog().values())
    assert {m.name for m in catalog} >= set(ALL8)
    q = UnitQuery(exp.key, START, exp.end, 7, UNIT_COLUMNS)
    con = connect(ordered=False)
    try:
        build_unit_table(con, q, name="scan")
        build_unit_base(con, q)
        build_sql_unit_table(con, q, "sql")
        scan = fetch_polars(con, "scan").sort("unit_id")
        sql = fetch_polars(con, "sql").sort("unit_id")
        assert scan.height == sql.height > 1000
        assert scan["unit_id"].to_list() == sql["unit_id"].to_list()
        assert scan["variant"].to_list() == sql["variant"].to_list()
        for c in UNIT_COLUMNS:
            for col in (c, f"pre_{c}"):
                np.testing.assert_allclose(
                    scan[col].to_numpy(), sql[col].to_numpy(), rtol=0, atol=1e-9, err_msg=col
                )
        caps = winsorize_caps(con, catalog, table="sql")
        assert caps["gmv_per_user"] is not None  # the winsorized branch is exercised
        want = reduce_statistics(con, catalog, caps, table="sql")
        got = reduce_statistics(con, catalog, caps, table="scan")
        assert set(got) == set(want)
        window = {c: scan[c].to_numpy().astype(np.float64) for c in UNIT_COLUMNS}
        pre = {c: scan[f"pre_{c}"].to_numpy().astype(np.float64) for c in UNIT_COLUMNS}
        for m in catalog:
            for key in want:
                for field in ("n", "sums", "sum_products"):
                    np.testing.assert_allclose(
                        getattr(got[key][m.name], field),
                        getattr(want[key][m.name], field),
                        rtol=1e-12,
                        atol=1e-9,
                        err_msg=f"{m.name} {key} {field}",
                    )
            # the NumPy rendering of the metric's variables equals the SQL one, per unit
            cap = caps.get(m.name)
            exprs = ", ".join(f"({e})::DOUBLE" for e in metric_sql(m, cap))
            by_sql = np.array(con.sql(f"SELECT {exprs} FROM scan ORDER BY unit_id").fetchall()).T
            by_numpy = variables_array(window, pre, metric_variables(m, cap), slice(0, scan.height))
            np.testing.assert_allclose(by_numpy, by_sql, rtol=0, atol=1e-9, err_msg=m.name)
    finally:
        con.close()


def test_content_type_table_sums_to_the_unit_table(use_log: Path) -> None:
    """Per (unit, content type) rows add up to the unit's row for item-level columns."""
    exp = make_experiment()
    cols = ("impressions", "clicks", "new_item_impressions")
    con = connect(ordered=False)
    try:
        build_unit_table(con, UnitQuery(exp.key, START, exp.end, 7, cols), name="units")
        build_unit_table(
            con, UnitQuery(exp.key, START, exp.end, 7, cols, "content_type"), name="units_ct"
        )
        diff = con.sql(
            "SELECT max(abs(u.impressions - c.impressions)), max(abs(u.clicks - c.clicks)) "
            "FROM units u JOIN (SELECT unit_id, sum(impressions) impressions, sum(clicks) clicks "
            "FROM units_ct GROUP BY unit_id) c USING (unit_id)"
        ).fetchall()[0]
        assert diff == (0.0, 0.0)
    finally:
        con.close()


def test_requests_have_no_content_type(use_log: Path) -> None:
    from shoplab.core.errors import InputError

    exp = make_experiment()
    con = connect(ordered=False)
    try:
        q = UnitQuery(exp.key, START, exp.end, 7, ("requests",), "content_type")
        with pytest.raises(InputError, match="segment == 'content_type'"):
            build_unit_table(con, q)
    finally:
        con.close()


def test_shared_unit_table_equals_a_fresh_build(use_log: Path) -> None:
    """What analyze() hands to the interaction checks is the table a fresh build would give,
    user attributes included, and a second build on the same connection does not disturb it."""
    exp = make_experiment()
    metrics, _ = scorecard_metrics(exp, ALL8)
    main_q = UnitQuery(exp.key, START, exp.end, 7, unit_columns_for(metrics), user_attributes=False)
    sub_q = UnitQuery(exp.key, START, exp.end, 7, ("impressions", "clicks"))
    main = connect()
    n_multi = build_unit_table(main, main_q)
    fresh = connect()
    assert build_unit_table(fresh, sub_q) == n_multi
    want = fetch_polars(fresh).sort("unit_id")
    shared = connect()
    handed_on = UnitTable(main, main_q, "units", n_multi)
    assert handed_on.serves(sub_q)
    assert build_unit_table(shared, sub_q, reuse=handed_on) == n_multi
    got = fetch_polars(shared).sort("unit_id")
    assert got.columns == want.columns
    assert got.equals(want)
    assert set(want["country"].unique()) - {"unknown"}  # attributes were joined, not defaulted
    # rebuilding another table on the main connection leaves "units" as it was
    before = fetch_polars(main).sort("unit_id")
    build_unit_table(main, sub_q, name="units_small")
    assert fetch_polars(main).sort("unit_id").equals(before)
    for con in (main, fresh, shared):
        con.close()
