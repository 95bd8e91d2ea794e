"""Assignment: a brute-force oracle built from the verified hash primitives, per request and
vectorized, with targeting, allowlists, time windows, the holdout and both hash versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pytest

from shoplab.experiments import Assignment, Layout, UnitIdError, assign, assign_frame, load_layout
from shoplab.experiments.hashing import bucket_ranges, bucket_v2, choose_variation, gb_hash
from tests.experiments.conftest import WriteConfigs, experiment_doc

AT = datetime(2026, 1, 10, tzinfo=UTC)
COUNTRIES = ["ID", "TH", "US"]
PLATFORMS = ["android", "ios", "web"]


def oracle(layout: Layout, unit: int, attrs: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The documented rules, written out plainly from gb_hash / bucket_v2 (no shared fast path)."""
    ls = layout.layer_set
    hold = ls.holdout is not None and bucket_v2(ls.holdout.salt, str(unit)) < ls.holdout.share * 1e4
    out: dict[str, Any] = {"holdout": hold}
    for layer in ls.layers:
        running = [
            e for e in layout.experiments.values()
            if e.layer == layer.name and e.status == "running" and e.start <= at < e.end
        ]
        forced = [e for e in running if unit in e.allowlist]
        if forced:
            out[layer.name] = (forced[0].key, forced[0].allowlist[unit])
            continue
        if hold:
            out[layer.name] = (None, None)
            continue
        b = bucket_v2(layer.seed, str(unit))
        owner = [e for e in running
                 if layout.placements[e.key].start <= b < layout.placements[e.key].end]
        result: tuple[str | None, str | None] = (None, None)
        if owner:
            e = owner[0]
            t = e.targeting
            ok = (
                (not t.countries or attrs.get("country") in t.countries)
                and (not t.platforms or attrs.get("platform") in t.platforms)
                and (t.user_type == "all"
                     or attrs.get("is_new_user") is (t.user_type == "new"))
            )
            if ok:
                n = gb_hash(e.seed, str(unit), e.hash_version)
                assert n is not None
                i = choose_variation(n, bucket_ranges(len(e.variants), 1.0, e.weights))
                if i >= 0:
                    result = (e.key, e.variants[i].key)
        out[layer.name] = result
    return out


@pytest.fixture
def rich_dir(write_configs: WriteConfigs) -> Any:
    return write_configs(
        experiment_doc("rank_a", layer="rank", buckets=[0, 4000], allowlist={7: "treatment"}),
        experiment_doc(
            "rank_b", layer="rank", buckets=[4000, 9000], hash_version=1, salt="rank_b_s1",
            variants=[{"key": "c", "weight": 0.25}, {"key": "t1", "weight": 0.25},
                      {"key": "t2", "weight": 0.5, "params": {"click_mult": 1.1}}],
            targeting={"countries": ["ID", "TH"], "platforms": ["android"]},
        ),
        experiment_doc("mix_new", layer="mix", buckets=[0, 10000],
                       targeting={"user_type": "new"}),
        experiment_doc("recall_late", layer="recall", buckets=[0, 10000],
                       start="2026-01-15T00:00:00Z"),
        experiment_doc("prerank_draft", layer="prerank", status="draft", buckets=[0, 10000]),
        experiment_doc("prerank_stopped", layer="prerank", status="stopped", buckets=[0, 10000]),
    )


def _frame(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    return pl.DataFrame(
        {
            "user_id": np.concatenate([[7, 0, -5], rng.integers(0, 10**12, n - 3)]),
            "country": rng.choice(COUNTRIES, n),
            "platform": rng.choice(PLATFORMS, n),
            "is_new_user": rng.random(n) < 0.3,
        }
    )


def _check_against_oracle(
    frame: pl.DataFrame, layout: Layout, at: datetime, *, forced_never: bool = False
) -> set[str]:
    """Every row of ``assign_frame``'s answer equals ``assign`` and the oracle; return the
    experiments reached. ``forced_never``: no row may be allowlisted (string ids)."""
    seen: set[str] = set()
    for row in frame.iter_rows(named=True):
        attrs = {k: row[k] for k in ("country", "platform", "is_new_user")}
        want = oracle(layout, row["user_id"], attrs, at)
        got = assign(row["user_id"], attrs, experiments=layout, at=at)
        assert got.holdout == want["holdout"] == row["holdout"]
        for la in got.layers:
            assert (la.experiment, la.variant) == want[la.layer]
            assert (row[f"{la.layer}_experiment"], row[f"{la.layer}_variant"]) == want[la.layer]
            if forced_never:
                assert not row[f"{la.layer}_forced"]  # allowlists key on Int64 ids: "7" is not 7
            if la.experiment:
                seen.add(la.experiment)
    return seen


@pytest.mark.parametrize("at", [AT, datetime(2026, 1, 16, tzinfo=UTC)])
def test_assign_and_assign_frame_match_the_oracle(rich_dir: Any, at: datetime) -> None:
    layout = load_layout(rich_dir)
    df = _frame(3_000)
    frame = assign_frame(df, experiments=layout, at=at)
    seen = _check_against_oracle(frame, layout, at)
    # every running experiment was reached (the test exercises each rule), drafts never
    expected = {"rank_a", "rank_b", "mix_new"} | ({"recall_late"} if at.day >= 15 else set())
    assert seen == expected


def test_holdout_units_get_no_experiment_and_share_is_five_percent(rich_dir: Any) -> None:
    layout = load_layout(rich_dir)
    df = pl.DataFrame({"user_id": np.arange(100_000), "is_new_user": True})
    out = assign_frame(df, experiments=layout, at=AT)
    held = out.filter("holdout")
    assert abs(held.height / 100_000 - 0.05) < 0.003  # binomial sd 0.0007
    for layer in ("recall", "prerank", "rank", "mix"):
        # allowlisted QA units (unit 7 is one, and held out) are the only exception, by design
        served = held.filter(~pl.col(f"{layer}_forced"))
        assert served[f"{layer}_experiment"].null_count() == served.height
    assert held.filter(pl.col("rank_forced"))["user_id"].to_list() in ([], [7])
    assert out.filter(~pl.col("holdout"))["mix_experiment"].null_count() == 0


def test_allowlist_forces_variant_and_is_flagged(rich_dir: Any) -> None:
    a = assign(7, experiments=load_layout(rich_dir), at=AT)
    assert (a["rank"].experiment, a["rank"].variant, a["rank"].forced) == (
        "rank_a", "treatment", True
    )
    assert a["rank"].params == {"rank_w_quality": 1.5}


def test_missing_targeted_attribute_means_not_eligible(rich_dir: Any) -> None:
    layout = load_layout(rich_dir)
    units = [u for u in range(5_000) if not assign(u, experiments=layout, at=AT).holdout]
    for u in units[:300]:
        assert assign(u, None, experiments=layout, at=AT)["mix"].experiment is None
    out = assign_frame(pl.DataFrame({"user_id": units}), experiments=layout, at=AT)
    assert out["mix_experiment"].null_count() == len(units)  # no is_new_user column
    assert out["rank_experiment"].cast(pl.String).is_in(["rank_b"]).sum() == 0


def test_assignment_result_types_are_frozen(rich_dir: Any) -> None:
    a = assign(1, experiments=load_layout(rich_dir), at=AT)
    assert isinstance(a, Assignment)
    with pytest.raises(AttributeError):
        a.holdout = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        a["rank"].params["x"] = 1.0 if a["rank"].params is not None else None  # type: ignore[index]
    with pytest.raises(KeyError, match="layer == 'nope', must be one of"):
        a["nope"]


def test_assign_frame_rejects_bad_unit_columns(rich_dir: Any) -> None:
    layout = load_layout(rich_dir)
    with pytest.raises(UnitIdError, match="user_id null count == 1, must be 0"):
        assign_frame(pl.DataFrame({"user_id": [1, None]}), experiments=layout, at=AT)
    with pytest.raises(UnitIdError, match="user_id dtype == Float64, must be an integer type"):
        assign_frame(pl.DataFrame({"user_id": [1.0]}), experiments=layout, at=AT)
    with pytest.raises(UnitIdError, match="user_id empty-string count == 1, must be 0"):
        assign_frame(pl.DataFrame({"user_id": ["a", ""]}), experiments=layout, at=AT)
    with pytest.raises(UnitIdError, match="user_id null count == 1, must be 0"):
        assign_frame(pl.DataFrame({"user_id": ["a", None]}), experiments=layout, at=AT)
    with pytest.raises(UnitIdError, match="unit_col == 'uid', must be a column"):
        assign_frame(pl.DataFrame({"user_id": [1]}), "uid", experiments=layout, at=AT)


def test_threads_do_not_change_the_answer(rich_dir: Any) -> None:
    layout = load_layout(rich_dir)
    df = _frame(200_000)  # > 3 chunks of 65,536
    one = assign_frame(df, experiments=layout, at=AT, threads=1)
    two = assign_frame(df, experiments=layout, at=AT, threads=2)
    assert one.equals(two)


def test_default_configs_env_var_and_cache_reload(
    demo_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_EXPERIMENTS", str(demo_dir))
    a = assign(42, {"country": "ID"}, at=AT)
    assert [la.layer for la in a.layers] == ["recall", "prerank", "rank", "mix"]
    # edit a config: the cached layout notices within its 1 s re-check
    import time

    import shoplab.experiments.loader as loader

    text = (demo_dir / "rank_ranker_v2.yaml").read_text().replace("traffic: 0.6", "traffic: 1.0")
    (demo_dir / "rank_ranker_v2.yaml").write_text(text)
    monkeypatch.setattr(loader, "_RECHECK_S", 0.0)
    time.sleep(0.01)
    units = [u for u in range(200) if not assign(u, at=AT).holdout]
    assert all(assign(u, at=AT)["rank"].experiment == "rank_ranker_v2" for u in units)


@pytest.mark.parametrize("unit", ["42", "0042", "-17", "user-a", "用户42", "😀", "12", "7"])
def test_string_units_follow_the_oracle(rich_dir: Any, unit: str) -> None:
    """String units (a client's device id, say) use the same rules; non-ASCII as UTF-16 units."""
    layout = load_layout(rich_dir)
    attrs = {"country": "ID", "platform": "android", "is_new_user": True}
    got = assign(unit, attrs, experiments=layout, at=AT)
    want = oracle(layout, unit, attrs, AT)  # type: ignore[arg-type]
    assert got.holdout == want["holdout"]
    for la in got.layers:
        assert (la.experiment, la.variant) == want[la.layer]
        assert not la.forced  # allowlists key on integer ids: "7" is not unit 7


def _string_ids(n: int) -> list[str]:
    """Logged-out traffic: device ids, UUID-like tokens, numeric strings and non-ASCII ids."""
    rng = np.random.default_rng(11)
    ids = [f"dev-{x:012x}" for x in rng.integers(0, 2**48, n)]
    ids[:8] = ["42", "0042", "-17", "7", "用户42", "😀", "é", "a" * 40]
    return ids


@pytest.mark.parametrize("at", [AT, datetime(2026, 1, 16, tzinfo=UTC)])
def test_assign_frame_takes_string_ids_with_the_answers_of_assign(
    rich_dir: Any, at: datetime
) -> None:
    layout = load_layout(rich_dir)
    df = _frame(3_000).with_columns(pl.Series("user_id", _string_ids(3_000)))
    frame = assign_frame(df, experiments=layout, at=at)
    seen = _check_against_oracle(frame, layout, at, forced_never=True)
    assert seen >= {"rank_a", "rank_b", "mix_new"}
    # a Categorical column is the same ids; more threads than chunks change nothing
    cat = df.with_columns(pl.col("user_id").cast(pl.Categorical))
    assert assign_frame(cat, experiments=layout, at=at).drop("user_id").equals(
        frame.drop("user_id")
    )


def test_string_ids_across_chunks_and_threads(rich_dir: Any) -> None:
    layout = load_layout(rich_dir)
    df = pl.DataFrame({"user_id": _string_ids(150_000)})  # > 2 chunks of 65,536
    one = assign_frame(df, experiments=layout, at=AT, threads=1)
    two = assign_frame(df, experiments=layout, at=AT, threads=2)
    assert one.equals(two)
    sample = np.random.default_rng(3).choice(150_000, 300, replace=False)
    for i in sample.tolist():
        got = assign(df["user_id"][i], experiments=layout, at=AT)
        assert got["rank"].variant == one["rank_variant"][i]
        assert got.holdout == one["holdout"][i]


@pytest.mark.parametrize(
    ("unit", "rule"),
    [
        (None, "unit_id == None \\(NoneType\\), must be an int"),
        (True, "unit_id == True \\(bool\\), must be an int"),
        ("", "unit_id == '', must be a non-empty string"),
        (2**63, "unit_id == 9223372036854775808, must be in the signed 64-bit range"),
        (-(2**63) - 1, "must be in the signed 64-bit range"),
        (1.5, "unit_id == 1.5 \\(float\\), must be an int"),
    ],
)
def test_assign_refuses_ids_that_are_no_unit(rich_dir: Any, unit: object, rule: str) -> None:
    layout = load_layout(rich_dir)
    with pytest.raises(UnitIdError, match=rule):
        assign(unit, experiments=layout, at=AT)  # type: ignore[arg-type]


def test_assign_takes_numpy_ints_and_the_64_bit_edges(rich_dir: Any) -> None:
    layout = load_layout(rich_dir)
    assert assign(np.int64(42), experiments=layout, at=AT) == assign(42, experiments=layout, at=AT)
    for edge in (2**63 - 1, -(2**63)):
        frame = assign_frame(pl.DataFrame({"user_id": [edge]}), experiments=layout, at=AT)
        got = assign(edge, experiments=layout, at=AT)
        assert frame["rank_variant"][0] == got["rank"].variant
