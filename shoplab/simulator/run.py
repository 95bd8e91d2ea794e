"""``simulate``: write a whole event log, one day at a time.

A day is: draw requests → ask the policy for per-user stage parameters (one call per day) →
serve every request (recall → rank → mix, vectorized in chunks of ≈ 2M candidates on parallel
threads) → draw clicks and orders → write the day's Parquet files on a background thread while
the next day is generated. Memory is bounded by two days of rows plus a few chunks of
candidates, not by the length of the window.

A rank variant that deploys a model (the policy's ``rank_model``) is ranked by it
(:mod:`shoplab.simulator.model_rank`): before such a day the writer is drained and the feature
pipelines refresh the day's serving tables from the log on disk; its requests are served in
their own, smaller chunks. ``on_day`` runs before each day once the days before it are on disk:
the hook that trains and registers models on a pre-period before their experiment starts.

Interleaving and triggered experiments (the policy's :class:`~shoplab.simulator.policy.Arms`):
an interleaved request is served the team-draft of its two rankers (``teams`` rows, one per
impression), each a model or hand weights (a ranker B that cannot load is counted under its
variant and replaced by the control ranker A, as ``shoplab.rank`` does); a request of a
triggered experiment's unit is also served, with the chunk's own generator re-seeded (the
same candidates and noise), under each other arm's params, and a ``triggers`` row says whether
a top-``k`` list differs. Those tables are written only on days
that have such an experiment, so a log without them is byte-identical to one before them.

Randomness: one generator for the world, one per day and one per chunk, all derived from
``seed``, so a given ``(seed, users, items, shops, days, start, config, policy)`` always writes
byte-identical files, whatever the number of threads (and, with models, the same models: trained
by a deterministic ``on_day`` on the same log, they give the same files too).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from shoplab.core.contract import CATEGORIES, CONTENT_TYPES, COUNTRIES, PLATFORMS, SURFACES, TABLES
from shoplab.core.errors import InputError
from shoplab.core.lock import writes_data_root
from shoplab.core.paths import events_dir, quarantine_dir
from shoplab.core.timeparse import parse_day, parse_instant
from shoplab.experiments.interleaving import coin_flips
from shoplab.simulator.config import WorldConfig
from shoplab.simulator.counterfactual import triggered
from shoplab.simulator.feedback import draw_clicks, draw_orders
from shoplab.simulator.params import day_params
from shoplab.simulator.policy import BASELINE, Arms, Policy
from shoplab.simulator.recall_index import build_recall_index
from shoplab.simulator.serving import Interleave, Served, serve
from shoplab.simulator.traffic import QUERY_TERMS, draw_requests
from shoplab.simulator.world import DAY_US, World, build_world, day_start_us
from shoplab.simulator.writer import codes_to_strings, write_table

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.simulator.model_rank import DayModel, ModelStage

__all__ = ["SimulationReport", "simulate", "world_of"]

_CANDIDATES_PER_CHUNK = 1 << 21  # ≈ 2M candidates ≈ 80 MiB of working arrays per chunk
# a model-ranked candidate carries ~50 feature columns through the joins: ≈ 100 MiB per chunk
_MODEL_CANDIDATES_PER_CHUNK = 1 << 18
_WORKERS = min(4, os.cpu_count() or 1)
_FACT_TABLES = ("requests", "impressions", "clicks", "orders")
_ARM_TABLES = ("teams", "triggers")  # written only on days with interleaving / triggers
_DIMENSION_TABLES = ("users", "shops", "items")
_NEW_USER_DAYS = 7  # "new user" for policies/targeting: signed up less than 7 days before the day


@dataclass(frozen=True)
class SimulationReport:
    """What ``simulate`` wrote: rows per table, the window, and the wall time.

    Attributes:
        start: first simulated day.
        end: last simulated day (inclusive); ``end - start + 1 == days``.
        seconds: wall time of the whole run.
    """

    users: int
    shops: int
    items: int
    requests: int
    impressions: int
    clicks: int
    orders: int
    exposures: int
    start: date
    end: date
    days: int
    seconds: float
    seed: int = 0
    impressions_per_day: tuple[int, ...] = field(default=(), repr=False)
    teams: int = 0
    triggers: int = 0

    @property
    def rows(self) -> dict[str, int]:
        """Rows written per event table."""
        return {t: getattr(self, t) for t in (*_DIMENSION_TABLES, *_FACT_TABLES, "exposures")}


def _parse_start(start: str | date) -> date:
    """``start``: a day (a datetime means its UTC day; the one day rule of ``core.timeparse``)."""
    if isinstance(start, datetime):
        return parse_instant(start, "start").date()
    return parse_day(start, "start")


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} == {value!r}, must be an integer.")
    if value < 1:
        raise InputError(f"{name} == {value}, must be >= 1.")


def _clear_previous() -> None:
    """Remove what an earlier simulation wrote (and the quarantine that described it)."""
    for table in (*_DIMENSION_TABLES, *_FACT_TABLES, *_ARM_TABLES):
        shutil.rmtree(events_dir(table), ignore_errors=True)
    exposures = events_dir("exposures")
    if exposures.exists():
        for path in exposures.glob("sim-*.parquet"):
            path.unlink()
    shutil.rmtree(quarantine_dir(), ignore_errors=True)


def _write_dimensions(world: World) -> tuple[int, int, int]:
    nu, ns, ni = world.n_users, world.n_shops, world.n_items
    write_table(
        "users",
        {
            "user_id": np.arange(1, nu + 1, dtype=np.int64),
            "signup_ts": world.user_signup_us,
            "country": codes_to_strings(COUNTRIES, world.user_country),
            "platform": codes_to_strings(PLATFORMS, world.user_platform),
        },
        events_dir("users") / "users.parquet",
    )
    write_table(
        "shops",
        {
            "shop_id": np.arange(1, ns + 1, dtype=np.int64),
            "created_ts": world.shop_created_us,
            "rating": world.shop_rating,
            "return_rate": world.shop_return_rate,
        },
        events_dir("shops") / "shops.parquet",
    )
    write_table(
        "items",
        {
            "item_id": np.arange(1, ni + 1, dtype=np.int64),
            "shop_id": world.item_shop.astype(np.int64) + 1,
            "category": codes_to_strings(CATEGORIES, world.item_cat),
            "content_type": codes_to_strings(CONTENT_TYPES, world.item_type),
            "price": world.item_price,
            "created_ts": world.item_created_us,
        },
        events_dir("items") / "items.parquet",
    )
    return nu, ns, ni


class _Writer:
    """Writes a day's files on a background thread while the next day is generated.

    pyarrow releases the GIL while encoding and compressing, so writing overlaps with NumPy work
    on the other core. Row counts are known when a file is submitted; errors surface at
    :meth:`drain`.
    """

    def __init__(self, rows: dict[str, int]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: list[Future[int]] = []
        self._rows = rows

    def submit(
        self, table: str, n: int, path: Path, columns: Callable[[], dict[str, Any]]
    ) -> None:
        self._rows[table] += n
        self._pending.append(self._pool.submit(lambda: write_table(table, columns(), path)))

    def drain(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True)


@dataclass
class _Counters:
    request_id: int = 0
    order_id: int = 0
    rows: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((*_FACT_TABLES, "exposures", *_ARM_TABLES), 0)
    )
    impressions_per_day: list[int] = field(default_factory=list)
    models: ModelStage | None = None  # created the first day a variant deploys a model


def _simulate_day(
    seed: int,
    world: World,
    cfg: WorldConfig,
    day_index: int,
    day: date,
    policy: Policy | None,
    counters: _Counters,
    pool: ThreadPoolExecutor,
    writer: _Writer,
) -> None:
    rng = np.random.default_rng([seed, 1, day_index])
    day_us = day_start_us(day)
    day_end = day_us + DAY_US
    reqs = draw_requests(rng, world, day_index, day_us, day.weekday())
    n_req = len(reqs)
    index = build_recall_index(rng, world, day_index, cfg.cold_start_days)

    active, first = np.unique(reqs.user, return_index=True)
    decided = day_params(policy, world, day, day_us, active, reqs.ts[first], _NEW_USER_DAYS)
    params, exposures = decided.params, decided.exposures
    req_active = np.searchsorted(active, reqs.user)
    req_params = {k: v[req_active] for k, v in params.items()}
    req_model = decided.model_code[req_active]
    slots = np.where(reqs.search, cfg.slots_search, cfg.slots_feed).astype(np.int64)
    arms = _DayArms.of(decided.arms, active, req_active, n_req)
    req_model_b = arms.model_b_codes(decided.models)  # interleaved ranker B's model, else -1
    day_models: list[DayModel] = []
    if decided.models:
        from shoplab.simulator.model_rank import ModelStage, rank_arms

        writer.drain()  # the pipelines read yesterday's files
        if counters.models is None:
            counters.models = ModelStage(day - timedelta(days=day_index))
        # a model that cannot rank falls back to the control ranker, counted per arm and day;
        # ranker A's and B's codes are recoded together (B's control is A's model)
        day_models, both = counters.models.fall_back(
            day, counters.models.prepare(day, decided.models),
            np.concatenate([req_model, req_model_b]), np.concatenate([reqs.user, reqs.user]),
            exposures, rank_arms(getattr(policy, "layout", None)),
        )
        req_model, req_model_b = both[:n_req], both[n_req:]
        arms = arms.with_trigger_models(decided.models, counters.models.recode)

    # Serve in chunks of requests sharing a recall size (a variant may change it) and a ranker
    # (the hand weights, or one model; interleaved: a pair). Each chunk has its own generator,
    # so chunks can run on parallel threads and still give the same bytes.
    recall = np.maximum(np.rint(req_params["recall_size"]).astype(np.int64), 1)
    chunks: list[tuple[int, int, int, np.ndarray]] = []
    rankers = np.stack([recall, req_model, req_model_b], axis=1)
    # one group per (size, A, B): usually 1-4 of them, a loop over variants (-1 first)
    for size, code, code_b in np.unique(rankers, axis=0).tolist():
        idx = np.flatnonzero((rankers == (size, code, code_b)).all(axis=1))
        budget = _CANDIDATES_PER_CHUNK if max(code, code_b) < 0 else _MODEL_CANDIDATES_PER_CHUNK
        step = max(1, budget // int(size))
        chunks += [(size, code, code_b, idx[lo : lo + step]) for lo in range(0, len(idx), step)]

    first_id = counters.request_id + 1  # request ids are known before serving: coin flips

    def serve_chunk(job: tuple[int, tuple[int, int, int, np.ndarray]]) -> _Chunk:
        number, (size, code, code_b, sel) = job
        scorer = (
            day_models[code].scorer(reqs.user[sel], reqs.ts[sel], reqs.query_term[sel])
            if code >= 0
            else None
        )
        chunk_params = {k: v[sel] for k, v in req_params.items()}
        interleave = arms.interleave(sel, chunk_params, first_id)
        if interleave is not None and code_b >= 0:
            b = sel[interleave.rows]
            interleave = replace(
                interleave,
                scorer_b=day_models[code_b].scorer(reqs.user[b], reqs.ts[b], reqs.query_term[b]),
            )

        def run(
            p: dict[str, np.ndarray], recall_size: int, ranker: int | None = None,
            *, actual: bool = False,
        ) -> Served:
            """Serve the chunk: ``actual``, or a counterfactual ranked by ``ranker``.

            ``ranker``: a day-model code, -1 hand weights, ``None`` the chunk's own. A
            counterfactual list is shown to nobody: its scorer never counts a fallback.
            """
            ranked_by = scorer
            if not actual:
                r = code if ranker is None else ranker
                ranked_by = (
                    day_models[r].scorer(
                        reqs.user[sel], reqs.ts[sel], reqs.query_term[sel], count=False
                    )
                    if r >= 0
                    else None
                )
            return serve(
                np.random.default_rng([seed, 2, day_index, number]),
                world,
                index,
                user=reqs.user[sel],
                search=reqs.search[sel],
                query_cat=reqs.query_cat[sel],
                slots=slots[sel],
                params=p,
                recall_size=recall_size,
                rank_noise=cfg.rank_noise,
                scorer=ranked_by,
                interleave=interleave,
            )

        actual = run(chunk_params, size, actual=True)
        return _Chunk(actual, arms.triggers(sel, chunk_params, size, actual, run))

    results = list(pool.map(serve_chunk, enumerate(chunks)))
    served = [c.served for c in results]
    rows = [sel[out.row] for (*_, sel), out in zip(chunks, served, strict=True)]
    if served:
        imp_req = np.concatenate(rows)
        imp_item = np.concatenate([s.item for s in served])
        imp_pos = np.concatenate([s.position for s in served])
    else:
        imp_req = np.empty(0, np.int64)
        imp_item = np.empty(0, np.int32)
        imp_pos = np.empty(0, np.int32)
    order = np.lexsort((imp_pos, imp_req))
    imp_req, imp_item, imp_pos = imp_req[order], imp_item[order], imp_pos[order]
    imp_user = reqs.user[imp_req]
    imp_ts = reqs.ts[imp_req]
    imp_team, imp_contested = _teams_of(served, len(order))
    imp_team, imp_contested = imp_team[order], imp_contested[order]

    qmatch = reqs.search[imp_req] & (world.item_cat[imp_item] == reqs.query_cat[imp_req])
    clicks = draw_clicks(
        rng, world, cfg, user=imp_user, item=imp_item, position=imp_pos, query_match=qmatch,
        ts=imp_ts, click_mult=req_params["click_mult"][imp_req].astype(np.float32),
        day_end_us=day_end,
    )
    c_imp = clicks.impression
    c_req, c_user, c_item = imp_req[c_imp], imp_user[c_imp], imp_item[c_imp]
    orders = draw_orders(
        rng, world, cfg, user=c_user, item=c_item, ts=clicks.ts,
        order_mult=req_params["order_mult"][c_req].astype(np.float32), day_end_us=day_end,
    )

    # Ids: request ids follow time order across the whole log; order ids follow click order.
    request_id = counters.request_id + 1 + np.arange(n_req, dtype=np.int64)
    counters.request_id += n_req
    o_click = orders.click
    order_id = counters.order_id + 1 + np.arange(len(o_click), dtype=np.int64)
    counters.order_id += len(o_click)

    name = f"{day.isoformat()}.parquet"
    writer.drain()  # at most one day in flight: memory stays bounded by two days of rows
    writer.submit("requests", n_req, events_dir("requests") / name, lambda: {
        "request_id": request_id,
        "user_id": reqs.user + 1,
        "ts": reqs.ts,
        "surface": codes_to_strings(SURFACES, np.where(reqs.search, 0, 1)),
        "query": codes_to_strings(QUERY_TERMS, reqs.query_term),
        "country": codes_to_strings(COUNTRIES, world.user_country[reqs.user]),
        "platform": codes_to_strings(PLATFORMS, world.user_platform[reqs.user]),
    })
    writer.submit("impressions", len(imp_req), events_dir("impressions") / name, lambda: {
        "request_id": request_id[imp_req],
        "user_id": imp_user + 1,
        "item_id": imp_item.astype(np.int64) + 1,
        "position": imp_pos,
        "ts": imp_ts,
    })
    writer.submit("clicks", len(c_imp), events_dir("clicks") / name, lambda: {
        "request_id": request_id[c_req],
        "user_id": c_user + 1,
        "item_id": c_item.astype(np.int64) + 1,
        "ts": clicks.ts,
    })
    writer.submit("orders", len(o_click), events_dir("orders") / name, lambda: {
        "order_id": order_id,
        "request_id": request_id[c_req[o_click]],
        "user_id": c_user[o_click] + 1,
        "item_id": c_item[o_click].astype(np.int64) + 1,
        "ts": orders.ts,
        "quantity": orders.quantity,
        "gmv": orders.gmv,
        "refunded": orders.refunded,
    })
    if arms.interleaving:
        keep = imp_team >= 0
        t_req, t_team = imp_req[keep], imp_team[keep].astype(np.int64)
        t_code = arms.req_il[t_req]
        il_keys = [a.experiment for a in arms.interleaving]
        team_keys = [v for a in arms.interleaving for v in a.variants[:2]]
        t_user, t_item, t_pos, t_ts = imp_user[keep], imp_item[keep], imp_pos[keep], imp_ts[keep]
        t_contested = imp_contested[keep]
        writer.submit("teams", len(t_req), events_dir("teams") / name, lambda: {
            "request_id": request_id[t_req],
            "user_id": t_user + 1,
            "item_id": t_item.astype(np.int64) + 1,
            "position": t_pos,
            "ts": t_ts,
            "experiment": codes_to_strings(il_keys, t_code),
            "team": codes_to_strings(team_keys, 2 * t_code + t_team),
            "contested": t_contested,
        })
    if arms.trigger:
        tr = _trigger_rows(arms.trigger, [c.triggers for c in results])
        tr_keys = [a.experiment for a in arms.trigger]
        tr_variants = [v for a in arms.trigger for v in a.variants]
        tr_k = np.array([a.k for a in arms.trigger], dtype=np.int32)
        writer.submit("triggers", len(tr.req), events_dir("triggers") / name, lambda: {
            "request_id": request_id[tr.req],
            "user_id": reqs.user[tr.req] + 1,
            "ts": reqs.ts[tr.req],
            "experiment": codes_to_strings(tr_keys, tr.spec),
            "variant": codes_to_strings(tr_variants, tr.variant_code),
            "k": tr_k[tr.spec],
            "triggered": tr.hit,
        })
    if exposures is not None:
        exp = exposures
        writer.submit("exposures", exp.height, events_dir("exposures") / f"sim-{name}", lambda: {
            c: exp[c].to_arrow() for c in TABLES["exposures"].column_names
        })
    counters.impressions_per_day.append(len(imp_req))

    # Personal history for tomorrow's recall: the category of each user's last click today.
    last = np.argsort(clicks.ts, kind="stable")
    world.last_click_cat[c_user[last]] = world.item_cat[c_item[last]]


@dataclass(frozen=True)
class _Chunk:
    """A served chunk, and per triggered experiment its units' rows: (spec, requests, arm, hit)."""

    served: Served
    triggers: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]


def _teams_of(served: list[Served], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every impression's team (-1: not interleaved) and contested flag, in chunk order."""
    if not any(s.team is not None for s in served):
        return np.full(n, -1, dtype=np.int8), np.zeros(n, dtype=bool)
    team = [s.team if s.team is not None else np.full(len(s.row), -1, np.int8) for s in served]
    contested = [
        s.contested if s.contested is not None else np.zeros(len(s.row), bool) for s in served
    ]
    return np.concatenate(team), np.concatenate(contested)


def _stage_params(arm: Arms, variant: int, key: str) -> float:
    """The value of ``key`` under ``variant``: its override, else the baseline."""
    return float(arm.overrides[variant].get(key, BASELINE[key]))


def _keys(arm: Arms) -> list[str]:
    """The params any variant of ``arm`` sets: what the arms differ in."""
    return sorted({k for o in arm.overrides for k in o})


@dataclass(frozen=True)
class _DayArms:
    """The day's :class:`Arms`, mapped onto its requests.

    Attributes:
        interleaving: the interleaving experiments; ``req_il`` indexes them per request (-1).
        trigger: the triggered experiments; ``req_var[j]`` is per request the arm of trigger
            ``j`` serving it (-1: not one of its units).
    """

    interleaving: tuple[Arms, ...]
    trigger: tuple[Arms, ...]
    req_il: np.ndarray
    req_var: tuple[np.ndarray, ...]
    # per trigger, per variant: the day-model code of its ranker (-1: hand weights); None when
    # no variant deploys a model (the counterfactual keeps the chunk's own ranker)
    trigger_models: tuple[tuple[int, ...] | None, ...] = ()

    @classmethod
    def of(
        cls, arms: tuple[Arms, ...], active: np.ndarray, req_active: np.ndarray, n_req: int
    ) -> _DayArms:
        il = tuple(a for a in arms if a.kind == "interleaving")
        tr = tuple(a for a in arms if a.kind == "trigger")
        req_il = np.full(n_req, -1, dtype=np.int64)

        def per_request(a: Arms) -> np.ndarray:
            per_active = np.full(len(active), -2, dtype=np.int64)
            per_active[np.searchsorted(active, np.asarray(a.user_id) - 1)] = a.variant
            out: np.ndarray = per_active[req_active]
            return out

        for j, a in enumerate(il):
            req_il[per_request(a) == -1] = j
        req_var = tuple(np.maximum(per_request(a), -1) for a in tr)
        return cls(il, tr, req_il, req_var)

    def with_trigger_models(
        self, models: tuple[str, ...], recode: Callable[[np.ndarray], np.ndarray]
    ) -> _DayArms:
        """Each triggered arm's ranker as a day-model code.

        ``recode``: a model that cannot load today -> its control's, as its units are served.
        """
        out: list[tuple[int, ...] | None] = []
        for a in self.trigger:  # a loop over experiments
            if not any(m is not None for m in a.models):
                out.append(None)
                continue
            codes = np.array([models.index(m) if m is not None else -1 for m in a.models])
            out.append(tuple(int(c) for c in recode(codes)))
        return replace(self, trigger_models=tuple(out))

    def model_b_codes(self, models: tuple[str, ...]) -> np.ndarray:
        """Per request, the index into ``models`` of its interleaved ranker B's model.

        -1: not interleaved, or ranker B ranks with hand weights.
        """
        code = np.full(len(self.req_il), -1, dtype=np.int32)
        for j, a in enumerate(self.interleaving):  # a loop over experiments
            if a.model_b is not None:
                code[self.req_il == j] = models.index(a.model_b)
        return code

    def interleave(
        self, sel: np.ndarray, params: dict[str, np.ndarray], first_id: int
    ) -> Interleave | None:
        """The chunk's interleaved requests: ranker B's params and the coin flips."""
        if not self.interleaving:
            return None
        which_all = self.req_il[sel]
        rows = np.flatnonzero(which_all >= 0)
        if not len(rows):
            return None
        which = which_all[rows]
        params_b = {k: v[rows].copy() for k, v in params.items()}
        for j in np.unique(which):  # a loop over experiments, not requests
            a, m = self.interleaving[j], which == j
            for key in _keys(a):
                params_b[key][m] = _stage_params(a, 1, key)
        ids = first_id + sel[rows].astype(np.int64)

        def flips(rounds: int) -> np.ndarray:
            out = np.empty((len(rows), rounds), dtype=bool)
            for j in np.unique(which):
                m = which == j
                out[m] = coin_flips(self.interleaving[j].seed, ids[m], rounds)
            return out

        return Interleave(rows, params_b, flips)

    def triggers(
        self,
        sel: np.ndarray,
        params: dict[str, np.ndarray],
        size: int,
        actual: Served,
        run: Callable[[dict[str, np.ndarray], int, int | None], Served],
    ) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Per triggered experiment with units in the chunk: did another arm's list differ?

        Each other arm is served over the whole chunk with the chunk's generator re-seeded, so
        its recall draws, noise and mix draws are the actual ones; only that experiment's stage
        params differ on its units' rows, and its ranker when an arm deploys a model (that arm's
        model, or the hand weights of an arm without one).
        """
        out = []
        for j, a in enumerate(self.trigger):
            var = self.req_var[j][sel]
            rows = np.flatnonzero(var >= 0)
            if not len(rows):
                continue
            hit = np.zeros(len(rows), dtype=bool)
            keys = _keys(a)
            rankers = self.trigger_models[j] if j < len(self.trigger_models) else None
            for vi in range(len(a.variants)):
                other = var[rows] != vi
                if not other.any() or (not keys and rankers is None):
                    continue
                p = {k: (v.copy() if k in keys else v) for k, v in params.items()}
                for key in keys:
                    p[key][rows[other]] = _stage_params(a, vi, key)
                cf_size = (
                    max(int(np.rint(_stage_params(a, vi, "recall_size"))), 1)
                    if "recall_size" in keys
                    else size
                )
                ranker = None if rankers is None else rankers[vi]
                differ = triggered(actual, run(p, cf_size, ranker), len(sel), a.k)
                hit |= differ[rows] & other
            out.append((j, sel[rows], var[rows], hit))
        return out


class _TriggerRows(NamedTuple):
    req: np.ndarray
    spec: np.ndarray
    variant_code: np.ndarray
    hit: np.ndarray


def _trigger_rows(
    arms: tuple[Arms, ...], chunks: list[list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]]
) -> _TriggerRows:
    """One row per (triggered experiment, request of its units), in request order."""
    offset = np.cumsum([0, *(len(a.variants) for a in arms)])[:-1]
    parts = [part for chunk in chunks for part in chunk]
    if not parts:
        e = np.empty(0, np.int64)
        return _TriggerRows(e, e, e, np.empty(0, bool))
    req = np.concatenate([p[1] for p in parts])
    spec = np.concatenate([np.full(len(p[1]), p[0], np.int64) for p in parts])
    var = np.concatenate([p[2] for p in parts])
    hit = np.concatenate([p[3] for p in parts])
    order = np.lexsort((spec, req))
    return _TriggerRows(req[order], spec[order], (offset[spec] + var)[order], hit[order])


def world_of(
    users: int,
    items: int,
    days: int,
    seed: int = 0,
    start: str | date = "2026-01-01",
    *,
    shops: int | None = None,
    config: WorldConfig | None = None,
) -> World:
    """The population ``simulate`` draws for these arguments, latent traits included.

    For calibration tests and notebooks that need the ground truth (true affinity, quality) behind
    a simulated log; the log itself never carries it.
    """
    for name, value in (("users", users), ("items", items), ("days", days)):
        _check_positive(name, value)
    cfg = config if config is not None else WorldConfig()
    n_shops = max(1, round(items / cfg.items_per_shop)) if shops is None else shops
    _check_positive("shops", n_shops)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed == {seed!r}, must be an integer >= 0.")
    return build_world(
        np.random.default_rng([seed, 0]),
        users=users, items=items, shops=n_shops, days=days, start=_parse_start(start), cfg=cfg,
    )


@writes_data_root("simulate")
def simulate(
    users: int,
    items: int,
    days: int,
    seed: int = 0,
    start: str | date = "2026-01-01",
    *,
    shops: int | None = None,
    policy: Policy | None = None,
    progress: bool = False,
    config: WorldConfig | None = None,
    on_day: Callable[[date], None] | None = None,
) -> SimulationReport:
    """Simulate a marketplace and write its event log under ``$SHOPLAB_DATA/events``.

    Args:
        users: users in the world, including those who sign up during the window (≈ 25 %).
            Most are idle on a given day: ≈ 0.07 requests per user-day, heavy-tailed.
        items: items in the catalog at ``start``; ≈ 1.5 % more arrive every day.
        days: days to simulate, starting at ``start`` (UTC).
        seed: the same seed (and arguments) writes byte-identical files.
        start: first day, a ``date`` or an ISO string.
        shops: shops at ``start`` (default ``items / 40``); ≈ 0.5 % more open every day.
        policy: decides per user and day the stage parameters (see ``shoplab.simulator.policy``);
            ``None`` serves everyone with ``BASELINE``.
        progress: show a Rich progress bar, one step per day.
        config: the world's rates and shapes (default ``WorldConfig()``).
        on_day: called with each day before it is simulated, once every earlier day is written
            (e.g. train and register the models a rank variant deploys from that day on).

    Returns:
        Rows written per table, the window and the wall time.

    Raises:
        InputError: a size is < 1, ``start`` is not a date, or the policy returns bad parameters.
        StateError: a rank model's feature service reads a request field the simulator does
            not have. A model that cannot be resolved or loaded is no error: its requests are
            ranked by the control ranker and counted (``shoplab.models.fallbacks``).

    Example:
        >>> import os, tempfile
        >>> os.environ["SHOPLAB_DATA"] = tempfile.mkdtemp()
        >>> report = simulate(users=2_000, items=500, days=2, seed=1)
        >>> report.days, report.impressions > 0
        (2, True)
    """
    t0 = time.perf_counter()
    cfg = config if config is not None else WorldConfig()
    first_day = _parse_start(start)
    world = world_of(users, items, days, seed, first_day, shops=shops, config=cfg)
    _clear_previous()
    nu, ns, ni = _write_dimensions(world)
    counters = _Counters()
    step = _progress_bar(progress, days)
    # NumPy releases the GIL in its kernels: chunks of a day are served on parallel threads.
    writer = _Writer(counters.rows)
    try:
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            for d in range(days):
                day = first_day + timedelta(days=d)
                if on_day is not None:
                    writer.drain()
                    on_day(day)
                _simulate_day(seed, world, cfg, d, day, policy, counters, pool, writer)
                step(day, counters)
    finally:
        writer.close()
        step(None, counters)
    r = counters.rows
    return SimulationReport(
        users=nu, shops=ns, items=ni,
        requests=r["requests"], impressions=r["impressions"], clicks=r["clicks"],
        orders=r["orders"], exposures=r["exposures"],
        start=first_day, end=first_day + timedelta(days=days - 1), days=days,
        seconds=time.perf_counter() - t0, seed=seed,
        impressions_per_day=tuple(counters.impressions_per_day),
        teams=r["teams"], triggers=r["triggers"],
    )


def _progress_bar(enabled: bool, days: int) -> Callable[[date | None, _Counters], None]:
    """A per-day Rich progress callback (``None`` day closes the bar); a no-op when disabled."""
    if not enabled:
        return lambda day, counters: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]simulate[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[impressions]:>12,} impressions"),
        TimeElapsedColumn(),
    )
    task = bar.add_task("days", total=days, impressions=0)
    bar.start()

    def step(day: date | None, counters: _Counters) -> None:
        if day is None:
            bar.stop()
            return
        bar.update(task, advance=1, description=day.isoformat(),
                   impressions=counters.rows["impressions"])

    return step

