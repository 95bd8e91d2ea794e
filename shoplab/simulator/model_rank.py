"""The rank stage with a deployed model: the features serving would have returned, in batch.

When a rank variant deploys a model (``params: {model: ctr_ranker@challenger}``), the simulator
scores that variant's candidates (after prerank) with the model instead of the hand weights. The
model must see what ``shoplab.rank`` would have given it at the request's time, and nothing later:

- **Daily feature refresh.** Before day ``d`` is simulated, the feature pipelines
  (``shoplab.feature_repo.pipelines``: the same SQL ``shoplab features build`` writes to disk)
  compute the partitions of the days before ``d`` from the event log on disk (the simulator
  drains its writer first), in memory. Per view, the table served on day ``d`` is the newest row
  per key stamped in ``[d 00:00 - ttl, d 00:00]``: what ``shoplab features materialize`` up to
  ``d 00:00`` loads into the online store. Every row reads only events strictly before its stamp,
  so no request sees its own day: the world feeds back one day later (tomorrow's features depend
  on today's rankings).
- **ttl judged at the request's time.** A request at ``t`` gets a view's values null when the
  row is older than ``t - ttl``, as the online store does: the hourly ``user_short_term`` view
  (2 h ttl), refreshed at 00:00, is null for every request after 02:00; the daily views (2 days)
  stay valid all day.
- **One batch per chunk, no loop over requests.** Candidates are joined to the per-key tables
  with Polars (item first: its shop and category are the keys of ``shop_stats`` and
  ``user_category``); the on-demand views run the feature repo's own UDFs once per distinct
  input (24 categories x ~100 query terms, not 10⁶ rows of strings); the model scores the frame
  through :meth:`shoplab.models.loaded.LoadedModel.score` (the encoder it was trained with,
  position fixed at :data:`~shoplab.models.ranker.SERVING_POSITION`).

``tests/simulator/test_model_rank.py`` checks that the batch frame equals
``shoplab.features.ranking_features`` on sampled requests (online store materialized up to
``d 00:00``, ``as_of`` the request's time), and that the shown order is the model's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from shoplab.core.errors import ShoplabError, StateError
from shoplab.experiments.models import INTERLEAVED_VARIANT
from shoplab.simulator.traffic import QUERY_TERMS
from shoplab.simulator.writer import codes_to_strings

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.features.services import ServicePlan, ViewPlan
    from shoplab.models.loaded import LoadedModel

__all__ = [
    "UNATTRIBUTED",
    "DailyFeatures",
    "DayModel",
    "ModelStage",
    "RankArm",
    "RankFailure",
    "query_strings",
    "rank_arms",
    "true_ctr_ceiling",
]

UNATTRIBUTED = "(unattributed)"
"""Experiment and variant of a fallback whose requests no known rank arm explains."""

_ITEM_VIEW = "item_stats"
# join key of another view -> the item_stats column holding it (as shoplab.features.online reads)
_ITEM_KEYS = {"shop_id": "item_shop_id", "category": "item_category"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CREATED = datetime(2000, 1, 1, tzinfo=UTC)  # created_timestamp: only breaks ties, never read


def _us(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def query_strings(query_term: np.ndarray) -> pl.Series:
    """The logged ``query`` of requests (null on the feed), from their query term codes."""
    return pl.Series("query", pl.from_arrow(codes_to_strings(QUERY_TERMS, query_term)),
                     dtype=pl.String)


class DailyFeatures:
    """Per feature view, the rows the online store would hold at a day's 00:00 (see module).

    Partitions are computed once per (view, day) and kept while a later day can still serve
    them (``ttl`` days back); safe to read from several threads once :meth:`prepare` returned.

    Args:
        first_day: the event log's first day: no partition exists before it (as in a build).
    """

    def __init__(self, first_day: date) -> None:
        """Start with no partition computed."""
        self.first_day = first_day
        self._partitions: dict[tuple[str, date], pl.DataFrame] = {}
        self._tables: dict[tuple[str, date], pl.DataFrame] = {}
        self._lock = threading.Lock()

    def _partition(self, view: str, day: date) -> pl.DataFrame:
        got = self._partitions.get((view, day))
        if got is None:
            from shoplab.core.duck import connect
            from shoplab.feature_repo.pipelines import VIEWS

            con = connect()
            try:
                arrow = con.sql(VIEWS[view](day, _CREATED)).to_arrow_table()
                got = pl.DataFrame(pl.from_arrow(arrow))
            finally:
                con.close()
            got = got.with_columns(
                __ts=pl.col("event_timestamp").dt.convert_time_zone("UTC").dt.epoch("us")
            ).drop("event_timestamp", "created_timestamp")
            self._partitions[(view, day)] = got
        return got

    def table(self, view: ViewPlan, day: date) -> pl.DataFrame:
        """Newest row per key of ``view`` stamped in ``[day 00:00 - ttl, day 00:00]``."""
        key = (view.name, day)
        got = self._tables.get(key)
        if got is not None:
            return got
        with self._lock:
            got = self._tables.get(key)
            if got is not None:
                return got
            end = _midnight(day)
            ttl = view.ttl if view.ttl is not None else timedelta(days=3650)
            lo = max(_midnight(self.first_day), end - ttl)
            # partition p holds the stamps (p 00:00, p+1 00:00]: those that reach [lo, end]
            days = [
                lo.date() - timedelta(days=1) + timedelta(days=i)
                for i in range((end.date() - lo.date()).days + 1)
            ]
            parts = [self._partition(view.name, p) for p in days if self.first_day <= p < day]
            keys = list(view.join_keys)
            if parts:
                rows = (
                    pl.concat(parts, how="vertical_relaxed")
                    .filter(pl.col("__ts").is_between(_us(end - ttl), _us(end)))
                    .sort("__ts")
                    .unique(subset=keys, keep="last", maintain_order=True)
                )
            else:
                rows = self._partition(view.name, day).clear()
            self._tables[key] = rows
            self._evict(day)
            return rows

    def _evict(self, day: date) -> None:
        """Forget tables of earlier days and partitions no later day reads (> 3 days back)."""
        for k in [k for k in self._tables if k[1] < day]:
            del self._tables[k]
        for k in [k for k in self._partitions if k[1] < day - timedelta(days=3)]:
            del self._partitions[k]

    def frame(
        self,
        plan: ServicePlan,
        day: date,
        user_id: np.ndarray,
        item_id: np.ndarray,
        ts_us: np.ndarray,
        query: pl.Series,
    ) -> pl.DataFrame:
        """The service's feature columns for candidate rows served on ``day`` (see module).

        Args:
            plan: the feature service (``shoplab.features.services.plan_service``).
            day: the serving day (every ``ts_us`` falls in it).
            user_id: each row's user id, as in the event log (1-based).
            item_id: each row's candidate item id (1-based).
            ts_us: each row's request time, epoch microseconds (UTC).
            query: each row's request query (null on the feed).

        Returns:
            One row per input row, in order: every ``view__feature`` column of the service's
            batch views, then its on-demand views' columns, dtypes as ``ranking_features``.
        """
        frame = pl.DataFrame(
            {
                "user_id": np.asarray(user_id, dtype=np.int64),
                "item_id": np.asarray(item_id, dtype=np.int64),
                "__t": np.asarray(ts_us, dtype=np.int64),
            }
        )
        views = sorted(plan.views, key=lambda v: v.name != _ITEM_VIEW)
        needs_item = any(k in _ITEM_KEYS for v in plan.views for k in v.join_keys)
        if needs_item and views[0].name != _ITEM_VIEW:
            item = self.table(_item_plan(), day).select(
                "item_id", *(pl.col(c).alias(k) for k, c in _ITEM_KEYS.items())
            )
            frame = frame.join(item, on="item_id", how="left", maintain_order="left")
        columns: list[str] = []
        for view in views:
            table = self.table(view, day)
            keys = list(view.join_keys)
            picked = [
                *keys,
                *(pl.col(f).alias(c) for f, c in zip(view.features, view.columns, strict=True)),
                pl.col("__ts").alias("__ts_view"),
            ]
            if view.name == _ITEM_VIEW:  # the keys of the other views, whatever the row's age
                picked += [
                    pl.col(c).alias(k) for k, c in _ITEM_KEYS.items() if k not in frame.columns
                ]
            frame = frame.join(
                table.select(picked), on=keys, how="left", maintain_order="left"
            )
            cutoff = (
                pl.col("__t") - view.ttl // timedelta(microseconds=1)
                if view.ttl is not None
                else pl.lit(None, dtype=pl.Int64)
            )
            stale = (pl.col("__ts_view") < cutoff).fill_null(False)
            frame = frame.with_columns(
                pl.when(stale).then(None).otherwise(pl.col(c)).cast(d).alias(c)
                for c, d in zip(view.columns, view.dtypes, strict=True)
            ).drop("__ts_view")
            columns += view.columns
        out = frame.select(columns)
        return out.hstack(_on_demand(out, plan, query.alias("query")))


def _item_plan() -> ViewPlan:
    from shoplab.features.services import ViewPlan

    return ViewPlan(_ITEM_VIEW, ("item_id",), timedelta(days=2), (), ())


def _on_demand(frame: pl.DataFrame, plan: ServicePlan, query: pl.Series) -> list[pl.Series]:
    """The service's on-demand views, each UDF run once per distinct input (see module)."""
    from shoplab.features.online import odfv_columns
    from shoplab.features.services import view_name

    out: list[pl.Series] = []
    for odfv, feats in zip(plan.odfvs, plan.odfv_features, strict=True):
        inputs = [
            frame[f"{view_name(p)}__{f.name}"].alias(f.name)
            for p in odfv.source_feature_view_projections.values()
            for f in p.features
        ]
        for r in odfv.source_request_sources.values():
            for f in r.schema:
                if f.name != "query":
                    raise StateError(
                        f"on-demand view {odfv.name!r} reads request field {f.name!r}, must "
                        "read only 'query' (the one request field the simulator has)."
                    )
                inputs.append(query.alias(f.name))
        names = [s.name for s in inputs]
        rows = pl.DataFrame(inputs)
        distinct = rows.unique(maintain_order=True)
        # the UDF once per distinct input, exactly as ranking_features runs it
        cols = odfv_columns(odfv, feats, distinct.get_columns())
        values = distinct.with_columns(cols)
        joined = rows.join(values, on=names, how="left", maintain_order="left", nulls_equal=True)
        out += [joined[c.name] for c in cols]
    return out


@dataclass(frozen=True)
class DayModel:
    """One rank model on one day: scores candidates on the features served that day.

    ``stage``: the :class:`ModelStage` that loaded it; a chunk the model fails to score is
    rescued there (:meth:`ModelStage.rescue`: counted, served by the control ranker). Without a
    stage a scoring failure raises.
    """

    ref: str
    model: LoadedModel
    plan: ServicePlan
    features: DailyFeatures
    day: date
    stage: ModelStage | None = None

    def frame(
        self, user: np.ndarray, item: np.ndarray, ts_us: np.ndarray, query: pl.Series
    ) -> pl.DataFrame:
        """Feature rows (user/item 0-based world indices, as the simulator holds them)."""
        return self.features.frame(self.plan, self.day, user + 1, item + 1, ts_us, query)

    def scores(
        self, user: np.ndarray, ts_us: np.ndarray, query_term: np.ndarray, cand: np.ndarray
    ) -> np.ndarray:
        """P(click) of candidates ``(n, k)`` of ``n`` requests; raises what the model raises.

        Raises:
            ModelPredictError: the model returned other than one finite score per candidate.
        """
        from shoplab.models.errors import ModelPredictError

        n, k = cand.shape
        rows = np.repeat(np.arange(n), k)
        query = query_strings(query_term)
        frame = self.frame(user[rows], cand.reshape(-1), ts_us[rows], query.gather(rows))
        got = np.asarray(self.model.score(frame), dtype=np.float64)
        if got.size != n * k or not np.all(np.isfinite(got)):
            raise ModelPredictError(
                f"model {self.model.ref} returned {got.size} scores with "
                f"{int(np.sum(~np.isfinite(got)))} non-finite, must return {n * k} finite "
                "scores (one per candidate)."
            )
        return got.reshape(n, k)

    def scorer(
        self, user: np.ndarray, ts_us: np.ndarray, query_term: np.ndarray, *, count: bool = True
    ) -> Callable[[np.ndarray], np.ndarray]:
        """The ``serve`` scorer of a chunk of requests: candidates ``(n, k)`` -> P(click).

        A model that raises (or returns non-finite scores) on the chunk does not stop the
        simulation: the chunk's requests fall back to the control ranker and are counted, as
        ``shoplab.rank`` serves a request whose model fails (:meth:`ModelStage.rescue`).
        """

        def score(cand: np.ndarray) -> np.ndarray:
            try:
                return self.scores(user, ts_us, query_term, cand)
            except Exception as exc:  # any model failure: counted and served by the control
                if self.stage is None:
                    raise
                return self.stage.rescue(self, user, ts_us, query_term, cand, exc, count=count)

        return score


@dataclass(frozen=True)
class RankFailure:
    """A rank model that cannot rank on a day; ``reason`` as ``shoplab.rank`` counts it."""

    ref: str
    reason: str
    message: str


class ModelStage:
    """The rank models a simulation serves: resolved per day, features refreshed per day."""

    def __init__(self, first_day: date) -> None:
        """No model loaded yet; ``first_day`` is the event log's first day."""
        self.features = DailyFeatures(first_day)
        self._plans: dict[str, ServicePlan] = {}
        # what fall_back saw of the day (exposures, arms, loaded models), for rescue
        self._day: tuple[date, pl.DataFrame | None, Mapping[str, Sequence[RankArm]],
                         dict[str, DayModel]] | None = None
        self._rescued: dict[tuple[str, str, str, str, date], int] = {}
        self._lock = threading.Lock()
        self._lut = np.full(1, -1, dtype=np.int32)  # the day's recoding (fall_back)

    def prepare(self, day: date, refs: Sequence[str]) -> list[DayModel | RankFailure]:
        """Resolve and load ``refs`` for ``day`` and compute the tables their services read.

        Call it after the days before ``day`` are on disk. A reference that does not resolve or
        load, whose service the Feast registry does not have, or that reads features its
        service does not return is a :class:`RankFailure` in its place, not an error: its
        requests fall back (:meth:`fall_back`), as ``shoplab.rank`` would serve them.
        """
        from shoplab.models.errors import ModelLoadError
        from shoplab.models.serve import fallback_reason

        out: list[DayModel | RankFailure] = []
        for ref in refs:
            try:
                model = _load(ref)
                plan = self._plan(model.spec.service)
                missing = [
                    f for f in model.spec.features if f != "position" and f not in _columns(plan)
                ]
                if missing:
                    raise ModelLoadError(
                        f"model {model.ref} reads {missing}, must read only features of service "
                        f"{plan.name!r} (training/serving skew)."
                    )
            except ShoplabError as exc:
                out.append(RankFailure(
                    ref, fallback_reason(exc), f"simulate {day}: rank model == {ref!r} cannot "
                    f"rank: {exc}",
                ))
                continue
            for view in plan.views:
                self.features.table(view, day)
            loaded = DayModel(ref, model, plan, self.features, day, self)
            try:
                _probe(loaded)
            except Exception as exc:  # a predict that fails on any input fails the whole day
                out.append(RankFailure(
                    ref, fallback_reason(exc), f"simulate {day}: rank model == {ref!r} cannot "
                    f"score: {type(exc).__name__}: {exc}",
                ))
                continue
            out.append(loaded)
        return out

    def fall_back(
        self,
        day: date,
        models: Sequence[DayModel | RankFailure],
        req_model: np.ndarray,
        req_user: np.ndarray,
        exposures: pl.DataFrame | None,
        arms: Mapping[str, Sequence[RankArm]],
    ) -> tuple[list[DayModel], np.ndarray]:
        """Serve a failed model's requests with the control ranker, and count them per arm.

        The control ranker is the experiment's first variant's model when it loaded today, else
        the hand weights (code -1), as ``shoplab.rank`` falls back to the control's model and
        then to the incoming order. Each failed reference's requests are counted per (experiment,
        variant) of the users' exposures (``shoplab.models.fallbacks.record_day_fallbacks``):
        the scorecard's ``fallback_rate`` guardrail reads them.

        Args:
            day: the simulated day.
            models: what :meth:`prepare` returned, indexed by ``req_model``.
            req_model: per request, the index into ``models`` of its rank model (-1: weights).
            req_user: per request, the user's world index (0-based).
            exposures: the day's exposures (``unit_id`` = user id, 1-based).
            arms: per model reference, the rank-layer arms that deploy it (:func:`rank_arms`).

        Returns:
            The loaded models only, and ``req_model`` re-coded into them (-1: the weights).
        """
        from shoplab.models.fallbacks import record_day_fallbacks

        loaded = [m for m in models if isinstance(m, DayModel)]
        self._day = (day, exposures, arms, {m.ref: m for m in loaded})
        new_code = {m.ref: i for i, m in enumerate(loaded)}
        lut = np.full(len(models) + 1, -1, dtype=np.int32)  # last slot: code -1 stays -1
        for code, m in enumerate(models):  # a loop over the day's models (a handful)
            if isinstance(m, DayModel):
                lut[code] = new_code[m.ref]
                continue
            mine = list(arms.get(m.ref, ()))
            control = next((a.control for a in mine if a.control is not None), None)
            lut[code] = new_code.get(control, -1) if control is not None else -1
            users = req_user[req_model == code].astype(np.int64) + 1
            for (experiment, variant), n in _per_arm(users, mine, exposures).items():
                record_day_fallbacks(experiment, variant, m.ref, m.reason, day, n, m.message)
        self._lut = lut
        return loaded, self.recode(req_model)

    def recode(self, codes: np.ndarray) -> np.ndarray:
        """Codes into the day's ``models`` -> into its loaded models, as :meth:`fall_back` does.

        A failed model -> its control's, -1 the hand weights; nothing is counted (a triggered
        experiment's counterfactual arm is not served).
        """
        codes = np.asarray(codes)
        out: np.ndarray = self._lut[np.where(codes >= 0, codes, len(self._lut) - 1)]
        return out

    def rescue(
        self,
        failed: DayModel,
        user: np.ndarray,
        ts_us: np.ndarray,
        query_term: np.ndarray,
        cand: np.ndarray,
        exc: BaseException,
        *,
        count: bool = True,
    ) -> np.ndarray:
        """Count a chunk ``failed`` could not score and return the control ranker's scores.

        ``count=False``: the scores of a list nobody is shown (a triggered experiment's
        counterfactual), so nothing is recorded.

        The chunk's requests are counted per (experiment, variant) of their users' exposures
        under ``failed``'s reference and the reason ``shoplab.rank`` would give
        (``fallback_reason``), added to the day's other failing chunks of the same arm and
        written with :func:`~shoplab.models.fallbacks.record_day_fallbacks`: the rows a failure
        at :meth:`prepare` writes, so the scorecard's guardrail sees both alike. The control
        ranker is the experiment's first variant's model when it loaded today (its own
        failure is rescued and counted the same way); else the candidates keep their recall
        order (equal scores), as ``shoplab.rank`` keeps the incoming order when no control
        model can serve. The simulator's hand weights cannot be reached from here: ``serve``
        hands a scorer only the candidates (see the report of issue 14 for the hook).
        """
        from shoplab.models.fallbacks import record_day_fallbacks
        from shoplab.models.serve import fallback_reason

        if self._day is None or self._day[0] != failed.day:
            raise exc
        day, exposures, arms, loaded = self._day
        reason = fallback_reason(exc)
        message = (
            f"simulate {day}: rank model == {failed.ref!r} failed to score {len(user)} "
            f"requests: {type(exc).__name__}: {exc}"
        )
        mine = list(arms.get(failed.ref, ()))
        per_arm = _per_arm(np.asarray(user, dtype=np.int64) + 1, mine, exposures)
        with self._lock:  # chunks are scored on several threads
            for (experiment, variant), n in sorted(per_arm.items() if count else ()):
                key = (experiment, variant, failed.ref, reason, day)
                self._rescued[key] = self._rescued.get(key, 0) + n
                record_day_fallbacks(
                    experiment, variant, failed.ref, reason, day, self._rescued[key], message
                )
        control = next((a.control for a in mine if a.control is not None), None)
        backup = loaded.get(control) if control is not None else None
        if backup is not None and backup.ref != failed.ref:
            return backup.scorer(user, ts_us, query_term, count=count)(cand)
        return np.zeros(cand.shape, dtype=np.float64)

    def _plan(self, service: str) -> ServicePlan:
        got = self._plans.get(service)
        if got is None:
            from shoplab.features.repo import feature_store
            from shoplab.features.services import plan_service

            got = plan_service(feature_store(), service)
            self._plans[service] = got
        return got


_PROBE_ITEMS = 16


def _probe(model: DayModel) -> None:
    """Score a few real candidates at the day's 00:00; raise what the model raises.

    A model that cannot score at all (a predict that raises, a wrong number of scores, NaN)
    then fails at :meth:`ModelStage.prepare`, where its whole day falls back at once, rather
    than in every chunk. Two users x :data:`_PROBE_ITEMS` items of the day's item table, on the
    feed (no query).
    """
    item = model.features.table(
        next((v for v in model.plan.views if v.name == _ITEM_VIEW), _item_plan()), model.day
    )
    items = item["item_id"].head(_PROBE_ITEMS).to_numpy().astype(np.int64) - 1
    if items.size == 0:
        items = np.zeros(1, dtype=np.int64)
    users = np.zeros(2, dtype=np.int64)
    cand = np.broadcast_to(items, (users.size, items.size))
    ts = np.full(users.size, _us(_midnight(model.day)), dtype=np.int64)
    model.scores(users, ts, np.full(users.size, -1, dtype=np.int64), np.ascontiguousarray(cand))


def _columns(plan: ServicePlan) -> set[str]:
    cols = {c for v in plan.views for c in v.columns}
    return cols | {f"{o.name}__{f}" for o, fs in zip(plan.odfvs, plan.odfv_features, strict=True)
                   for f in fs}


def _per_arm(
    users: np.ndarray, arms: Sequence[RankArm], exposures: pl.DataFrame | None
) -> dict[tuple[str, str], int]:
    """Requests of ``users`` (one entry per request) per (experiment, variant) of ``arms``."""
    if users.size == 0:
        return {}
    keys = {(a.experiment, a.variant) for a in arms}
    if exposures is None or not keys:
        return {(UNATTRIBUTED, UNATTRIBUTED): int(users.size)}
    exp = (
        exposures.filter(pl.col("experiment").is_in([k[0] for k in keys]))
        .select("experiment", "variant", "unit_id")
        .unique()
    )
    got = (
        pl.DataFrame({"unit_id": users})
        .join(exp, on="unit_id", how="left")
        .group_by("experiment", "variant")
        .len()
    )
    # an interleaved unit is exposed to both rankers (variant ``interleaved``): its requests
    # count under the arm of ``arms`` in that experiment (A's or B's, whichever deploys the model)
    interleaved: dict[str, tuple[str, str]] = {}
    for a in arms:
        interleaved.setdefault(a.experiment, (a.experiment, a.variant))
    out: dict[tuple[str, str], int] = {}
    for e, v, n in got.iter_rows():  # one row per arm
        if v == INTERLEAVED_VARIANT and e in interleaved:
            key = interleaved[e]
        else:
            key = (e, v) if (e, v) in keys else (UNATTRIBUTED, UNATTRIBUTED)
        out[key] = out.get(key, 0) + int(n)
    return out


@dataclass(frozen=True)
class RankArm:
    """A rank-layer variant that deploys a model, and its experiment's control model."""

    experiment: str
    variant: str
    control: str | None


def rank_arms(layout: Any) -> dict[str, list[RankArm]]:
    """Per model reference, the rank-layer arms of ``layout`` (a ``Layout``) that deploy it.

    ``None`` (a policy that is not ``ExperimentPolicy``): no arm is known, fallbacks are
    counted under :data:`UNATTRIBUTED`.
    """
    out: dict[str, list[RankArm]] = {}
    for key, exp in sorted(getattr(layout, "experiments", {}).items()):
        if exp.layer != "rank":
            continue
        first = exp.variants[0].params.get("model")
        control = first if isinstance(first, str) else None
        for v in exp.variants:
            ref = v.params.get("model")
            if isinstance(ref, str):
                out.setdefault(ref, []).append(
                    RankArm(key, v.key, control if control != ref else None)
                )
    return out


def _load(ref: str) -> LoadedModel:
    from shoplab.models.loaded import load, resolve_cached

    return load(resolve_cached(ref))


def true_ctr_ceiling(
    valid: tuple[date | datetime | str, date | datetime | str], world: Any
) -> Any:
    """Offline metrics of ranking by the simulator's true P(click): the ceiling of any model.

    The same window and the same metrics as a trained version's (``train_model``'s ``valid``,
    :func:`shoplab.models.metrics.offline_metrics`): GAUC and NDCG@10 order each request by the
    true probability at the serving position (as a model's scores are), log loss and
    calibration use it at the logged positions. The probability comes from
    :func:`shoplab.simulator.oracle.true_click_probability` with the baseline click multiplier,
    so the window must lie before any experiment that changes ``click_mult`` (the demo's
    pre-period).

    Args:
        valid: ``(start, end)`` of the window, end excluded (a date means 00:00 UTC).
        world: ``shoplab.simulator.world_of(...)`` with the arguments that wrote the log.

    Returns:
        An :class:`~shoplab.models.metrics.OfflineMetrics` of the clicks of ``valid``.
    """
    from shoplab.features import training_labels
    from shoplab.models.metrics import offline_metrics
    from shoplab.models.ranker import SERVING_POSITION
    from shoplab.simulator.oracle import true_click_probability

    labels = training_labels(*valid)
    requests = labels.select("request_id", "query").unique("request_id")
    logged = true_click_probability(world, labels, requests)
    at_top = labels.with_columns(
        position=pl.lit(SERVING_POSITION, dtype=labels["position"].dtype)
    )
    served = true_click_probability(world, at_top, requests)
    return offline_metrics(labels, "clicked", served, logged)
