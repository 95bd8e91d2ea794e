"""The reference figures hold on a bigger world too (guards against small-sample artefacts)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from shoplab.events import load_events
from shoplab.simulator import simulate


@pytest.mark.slow
def test_a_300k_user_world_is_plausible_and_validates_clean(data_root: Path) -> None:
    report = simulate(users=300_000, items=30_000, days=14, seed=3)
    # ≈ 0.07 requests per user-day × ≈ 0.9 signed up × ≈ 11.3 slots ≈ 10 impressions per user
    assert 8 <= report.impressions / report.users <= 13
    assert 0.01 <= report.clicks / report.impressions <= 0.10
    assert 0.01 <= report.orders / report.clicks <= 0.10
    con = duckdb.connect()
    top1 = con.execute(
        f"""
        WITH b AS (SELECT user_id, sum(gmv) AS g
                   FROM read_parquet('{data_root}/events/orders/*.parquet') GROUP BY 1),
             r AS (SELECT g, row_number() OVER (ORDER BY g DESC) AS rn, count(*) OVER () AS n
                   FROM b)
        SELECT sum(g) FILTER (WHERE rn <= n / 100) / sum(g) FROM r
        """
    ).fetchone()
    assert top1 is not None
    assert top1[0] >= 0.20
    loaded = load_events()
    assert loaded.quarantined == 0
    assert loaded["impressions"].rows_in == report.impressions
