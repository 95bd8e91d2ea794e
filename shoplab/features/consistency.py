"""Online store against offline tables, the whole key set: is serving what the tables say?

After a materialization up to ``as_of`` the online store must hold exactly the newest offline row
per entity key among rows with ``as_of - ttl <= event_timestamp <= as_of``: the same key set (no
orphan of an older world, no key missing) and the same values. A sample of 50 keys hid 3,906
orphan ``user_category`` rows once (issue 12), so this compares every key and every value, in
Polars: the offline side is one scan of the view's Parquet, the online side one read of the wide
SQLite table (``shoplab.features.wide_table``), joined on the key as the store encodes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

__all__ = ["ViewConsistency", "compare_view", "last_materialized"]

REL_TOL: Final = 1e-9
"""Numbers agree within this relative difference (the store keeps float64 as REAL)."""
_SHOWN: Final = 100


@dataclass(frozen=True)
class ViewConsistency:
    """One view, online vs offline as of the last materialization.

    Attributes:
        view: the feature view.
        as_of: the materialization end both sides are cut at.
        offline_keys: keys with a row in ``[as_of - ttl, as_of]`` offline.
        online_keys: keys in the online table.
        orphans: online keys with no such offline row (an older world's users).
        missing: offline keys absent online.
        compared: values compared (keys on both sides × compared features).
        mismatches: compared values that differ (beyond ``REL_TOL``, or null on one side only).
        not_compared: features of types the check does not decode (serialized protos).
        rows: up to 100 differences: key columns, ``feature`` (``<orphan>``/``<missing>`` for
            key-set differences), ``offline``, ``online`` (as strings).
    """

    view: str
    as_of: datetime
    offline_keys: int
    online_keys: int
    orphans: int
    missing: int
    compared: int
    mismatches: int
    not_compared: tuple[str, ...]
    rows: pl.DataFrame

    @property
    def consistent(self) -> bool:
        """Same key set and every compared value equal."""
        return self.orphans == 0 and self.missing == 0 and self.mismatches == 0


def _offline(fv: Any, as_of: datetime) -> pl.DataFrame:
    path = str(fv.batch_source.path)
    ts = fv.batch_source.timestamp_field
    created = fv.batch_source.created_timestamp_column or ts
    keys = [c.name for c in fv.entity_columns]
    lo = as_of - fv.ttl if fv.ttl else datetime(1970, 1, 1, tzinfo=UTC)
    source = path if not Path(path).is_dir() else f"{path}/**/*.parquet"
    return (
        pl.scan_parquet(source)
        .filter(pl.col(ts).is_between(lo, as_of))
        .sort([ts, created])
        .group_by(keys, maintain_order=True)
        .last()
        .collect()
    )


def _online(spec: Any, db: str, features: list[str]) -> pl.DataFrame:
    from shoplab.features.wide_table import connect, quote

    con = connect(db, readonly=True)
    try:
        cur = con.execute(
            f"SELECT __ek, {', '.join(quote(f) for f in features)} FROM {quote(spec.table)}"
            if features
            else f"SELECT __ek FROM {quote(spec.table)}"
        )
        names = [d[0] for d in cur.description]
        data = cur.fetchall()
    finally:
        con.close()
    return pl.DataFrame(data, schema=names, orient="row", infer_schema_length=None)


def _differs(a: pl.Expr, b: pl.Expr, numeric: bool) -> pl.Expr:
    one_null = a.is_null() != b.is_null()
    if numeric:
        a, b = a.cast(pl.Float64), b.cast(pl.Float64)
        scale = pl.max_horizontal(a.abs(), b.abs())
        value = ((a - b).abs() > REL_TOL * scale) & ~(a.is_nan() & b.is_nan())
    else:
        value = a.cast(pl.String) != b.cast(pl.String)
    return one_null | (a.is_not_null() & b.is_not_null() & value)


def compare_view(store: Any, fv: Any, as_of: datetime) -> ViewConsistency:
    """Compare every key and value of ``fv`` online with the offline tables as of ``as_of``.

    Args:
        store: the ``FeatureStore`` (its online store must be the wide SQLite store).
        fv: the feature view.
        as_of: the end of its last materialization.
    """
    from shoplab.features.online import _serialized_keys
    from shoplab.features.wide_table import db_path, table_spec

    spec = table_spec(store.project, fv)
    keys = list(spec.join_keys)
    decodable = [f for f, t in zip(spec.features, spec.sql_types, strict=True) if t != "BLOB"]
    skipped = tuple(f for f in spec.features if f not in decodable)
    numeric = {
        f for f, t in zip(spec.features, spec.sql_types, strict=True) if t in ("INTEGER", "REAL")
    }
    offline = _offline(fv, as_of)
    if spec.int_key:
        offline = offline.with_columns(__ek=pl.col(keys[0]).cast(pl.Int64))
    else:
        version = store.config.entity_key_serialization_version
        offline = offline.with_columns(
            __ek=_serialized_keys(keys, [offline[k] for k in keys], version)
        )
    online = _online(spec, db_path(store.config), decodable)
    if online.height == 0:
        online = pl.DataFrame(schema={"__ek": offline.schema["__ek"], **{
            f: offline.schema.get(f, pl.Float64) for f in decodable
        }})
    on = online.rename({f: f"{f}__online" for f in decodable})
    joined = offline.select(["__ek", *keys, *decodable]).join(
        on, on="__ek", how="full", coalesce=True
    )
    in_off = pl.col(keys[0]).is_not_null()
    in_on = pl.col("__ek").is_in(online["__ek"].implode())
    present = joined.filter(in_on & in_off)
    orphans = joined.filter(~in_off)
    missing = joined.filter(~in_on)
    ek = pl.col("__ek").cast(pl.String) if spec.int_key else pl.col("__ek").bin.encode("hex")
    diffs: list[pl.DataFrame] = []
    mismatches = 0
    for f in decodable:  # a loop over features (tens), each vectorized over every key
        bad = present.filter(_differs(pl.col(f), pl.col(f"{f}__online"), f in numeric))
        mismatches += bad.height
        if bad.height and sum(d.height for d in diffs) < _SHOWN:
            diffs.append(
                bad.head(_SHOWN).select(
                    *keys,
                    pl.lit(f).alias("feature"),
                    pl.col(f).cast(pl.String).alias("offline"),
                    pl.col(f"{f}__online").cast(pl.String).alias("online"),
                )
            )
    for frame, label in ((orphans, "<orphan>"), (missing, "<missing>")):
        if frame.height:
            diffs.append(
                frame.head(_SHOWN).select(
                    *[pl.col(k) for k in keys],
                    pl.lit(label).alias("feature"),
                    pl.lit(None, pl.String).alias("offline"),
                    ek.alias("online"),
                )
            )
    rows = (
        pl.concat(diffs, how="vertical_relaxed").head(_SHOWN)
        if diffs
        else pl.DataFrame(schema={**{k: pl.String for k in keys}, "feature": pl.String,
                                  "offline": pl.String, "online": pl.String})
    )
    return ViewConsistency(
        view=fv.name,
        as_of=as_of,
        offline_keys=offline.height,
        online_keys=online.height,
        orphans=orphans.height,
        missing=missing.height,
        compared=present.height * len(decodable),
        mismatches=mismatches,
        not_compared=skipped,
        rows=rows,
    )


def last_materialized(fv: Any) -> datetime | None:
    """The end of the view's newest materialization interval (None if never)."""
    intervals = getattr(fv, "materialization_intervals", None) or []
    return max((end for _, end in intervals), default=None)

