"""The baseline serving pipeline: recall → rank → mix, vectorized over a chunk of requests.

Every array here is ``(requests, candidates)``; there is no loop over requests or candidates.

- Recall fills ``recall_size`` candidate slots per request in three content-type queues (65 %
  products, 25 % videos, 10 % live streams: a multi-queue recall, as real feeds have). Within
  each queue a share ``recall_personal_share`` of the slots goes to the user's personal channels
  (three preferred categories by preference weight, plus 30 % to the category of their last click:
  personal history), the rest to the query's category on search (category match) or to all
  categories on the feed (popularity). Slots are allocated to channels by quota, then each slot
  draws an item from its channel's popularity table. Duplicates are possible at this stage, as in
  any multi-channel recall, and removed before the list is built.
- Rank scores candidates with ``rank_w_affinity`` × user-category affinity + ``rank_w_quality`` ×
  the item's estimated quality + ``rank_w_price`` × price fit + ``rank_w_short_term`` × "in the
  category of the user's last click" (short-term interest: ranker_v2's extra feature; 0 by
  default, i.e. ranker_v1), a query-match bonus on search, and an estimation error; it keeps
  the best ``2 × slots`` products and ``slots`` of each other type.
- A request whose rank variant deploys a model is ranked by that model instead: ``scorer`` maps
  the ``(n, recall_size)`` candidates to the model's P(click) (:mod:`shoplab.simulator.model_rank`:
  the features serving would have returned at the request's time), with no hand weight, query
  bonus or simulated estimation error: the model is the estimate. The rest is the same.
- Mix fills the final list with content-type quotas (``mix_video_share``, ``mix_live_share`` of the
  slots, remainder products), backfilling from the best remaining candidates when a type runs
  short, then interleaves: ranker order, but at least one product between two video/live cards
  whenever the list is long enough for that.
- Interleaving (:class:`Interleave`): for the requests of an interleaving experiment, rank runs
  twice over the same candidates and noise (ranker A: ``scorer`` or ``params``, ranker B:
  ``scorer_b`` or ``params_b``: a model or hand weights on either side), the
  two ranked pools are team-drafted (:func:`~shoplab.experiments.interleaving.team_draft`) into
  one ranked pool, and mix fills the list from it as usual: each impression keeps the team of
  the ranker that drafted it (``Served.team``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from shoplab.experiments.interleaving import rounds_for, team_draft
from shoplab.simulator.recall_index import GLOBAL, N_TYPES, RecallIndex, table_id
from shoplab.simulator.world import N_CATEGORIES, World

__all__ = ["QUEUE_SHARES", "Interleave", "Served", "affinity", "price_fit", "serve"]

QUEUE_SHARES: Final = (0.65, 0.25, 0.10)
"""Recall slots per content-type queue (product, video, live)."""
_HISTORY_SHARE = 0.3  # share of personal slots for the last-click category, when there is one
_AFFINITY_SCALE = np.float32(3.0)  # affinity ∈ [0, 1]; ×3 puts it on the scale of quality (sd≈1)
_QUERY_MATCH = np.float32(2.0)  # search: an item of the query's category is relevant first
_POOL_PER_SLOT = (2, 1, 1)  # candidates per slot the ranker hands the mixer, per type


@dataclass(frozen=True)
class Served:
    """The impressions of a chunk: request row (within the chunk), item index, position.

    ``team`` / ``contested`` (only when the chunk has interleaved requests): per impression the
    drafting ranker (0: A, 1: B, -1: not interleaved) and whether both rankers' best unplaced
    item was that one (see :mod:`experiments.interleaving`).
    """

    row: np.ndarray  # int64
    item: np.ndarray  # int32
    position: np.ndarray  # int32
    team: np.ndarray | None = None  # int8
    contested: np.ndarray | None = None  # bool


@dataclass(frozen=True)
class Interleave:
    """The interleaved requests of a chunk.

    Attributes:
        rows: their chunk rows (int64, increasing).
        params_b: ranker B's params, one value per row of ``rows`` (ranker A's are ``params``).
        flips: ``rounds -> (len(rows), rounds)`` coin flips (True: A picks first), the
            experiment's :func:`~shoplab.experiments.interleaving.coin_flips` of each request.
        scorer_b: ranker B's model (candidates of ``rows`` -> scores), ``None`` for the hand
            weights of ``params_b``.
    """

    rows: np.ndarray
    params_b: dict[str, np.ndarray]
    flips: Callable[[int], np.ndarray]
    scorer_b: Callable[[np.ndarray], np.ndarray] | None = None


def affinity(world: World, user: np.ndarray, item_cat: np.ndarray) -> np.ndarray:
    """User-category affinity ∈ [0, 1]: the preference weight of the item's category.

    ``user`` broadcasts against ``item_cat`` (e.g. ``(n, 1)`` against ``(n, k)``).
    """
    aff = np.zeros(np.broadcast_shapes(user.shape, item_cat.shape), dtype=np.float32)
    for k in range(world.user_pref_cat.shape[1]):  # 3 preference slots
        match = world.user_pref_cat[user, k] == item_cat
        aff += np.where(match, world.user_pref_w[user, k], np.float32(0.0))
    return aff


def price_fit(world: World, user: np.ndarray, item: np.ndarray) -> np.ndarray:
    """How well an item's price suits the user: -½·(item price z - user price z)², ≤ 0."""
    d = world.item_price_z[item] - world.user_price_z[user]
    fit: np.ndarray = np.float32(-0.5) * d * d
    return fit


def queue_sizes(recall_size: int) -> tuple[int, int, int]:
    """Recall slots per type queue for ``recall_size`` (each ≥ 1 when ``recall_size`` ≥ 3)."""
    video = max(1, round(recall_size * QUEUE_SHARES[1])) if recall_size >= 3 else 0
    live = max(1, round(recall_size * QUEUE_SHARES[2])) if recall_size >= 3 else 0
    return recall_size - video - live, video, live


def _channel_counts(
    rng: np.random.Generator, world: World, user: np.ndarray, share: np.ndarray, size: int
) -> np.ndarray:
    """Slots per channel (pref 0, pref 1, pref 2, history, non-personal) of a ``size`` queue.

    Quotas with randomized rounding, so expected counts are exact: personal = size × share.
    """
    n = len(user)
    personal = np.floor(size * share + rng.random(n)).astype(np.int64)
    personal = np.minimum(personal, size)
    has_hist = world.last_click_cat[user] >= 0
    hist = np.where(has_hist, np.floor(personal * _HISTORY_SHARE + rng.random(n)), 0)
    hist = np.minimum(hist.astype(np.int64), personal)
    prefs = personal - hist
    w = world.user_pref_w[user].astype(np.float64)
    c0 = np.minimum(np.floor(prefs * w[:, 0] + rng.random(n)).astype(np.int64), prefs)
    c1 = np.minimum(np.floor(prefs * w[:, 1] + rng.random(n)).astype(np.int64), prefs - c0)
    c2 = prefs - c0 - c1
    return np.stack([c0, c1, c2, hist, size - personal], axis=1)


def _recall(
    rng: np.random.Generator,
    world: World,
    index: RecallIndex,
    user: np.ndarray,
    search: np.ndarray,
    query_cat: np.ndarray,
    personal_share: np.ndarray,
    recall_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates ``(n, recall_size)`` in type queues, and a uniform noise per candidate."""
    n = len(user)
    hist = world.last_click_cat[user]
    channel_cat = np.concatenate(
        [
            world.user_pref_cat[user].astype(np.int16),
            np.where(hist >= 0, hist, 0).astype(np.int16)[:, None],
            np.where(search, query_cat, GLOBAL).astype(np.int16)[:, None],
        ],
        axis=1,
    )  # (n, 5)
    offsets, sizes, counts = [], [], []
    for t, q in enumerate(queue_sizes(recall_size)):
        if q == 0:
            continue
        tables = table_id(channel_cat, t)
        offsets.append(index.offset[tables].astype(np.int32))  # tables < 2^31 slots: int32
        sizes.append(index.size[tables].astype(np.int32))
        counts.append(_channel_counts(rng, world, user, personal_share, q))
    # Lay the slots out request by request, queue by queue, channel by channel: one np.repeat
    # per column instead of per-slot channel arithmetic.
    reps = np.stack(counts, axis=1).reshape(-1)
    off = np.repeat(np.stack(offsets, axis=1).reshape(-1), reps)
    size = np.repeat(np.stack(sizes, axis=1).reshape(-1), reps)
    r = rng.random(len(off))
    r *= size
    # frac(r · size) is uniform on [0, 1) and independent of the slot drawn: reuse it as the
    # ranker's estimation noise instead of drawing a second (n, recall_size) array.
    frac, whole = np.modf(r)
    del r
    off += whole.astype(np.int32)
    cand = index.items[off]
    noise = frac.astype(np.float32)
    return cand.reshape(n, recall_size), noise.reshape(n, recall_size)


def serve(
    rng: np.random.Generator,
    world: World,
    index: RecallIndex,
    *,
    user: np.ndarray,
    search: np.ndarray,
    query_cat: np.ndarray,
    slots: np.ndarray,
    params: dict[str, np.ndarray],
    recall_size: int,
    rank_noise: float,
    scorer: Callable[[np.ndarray], np.ndarray] | None = None,
    interleave: Interleave | None = None,
) -> Served:
    """Serve a chunk of requests that share ``recall_size``; ``params`` are per request.

    ``scorer``: the rank model of every request of the chunk (candidates -> scores, same
    shape), or ``None`` for the hand weights of ``params`` (ranker A of interleaved requests).
    ``interleave``: the chunk's interleaved requests and their ranker B, ``None`` when it has
    none. The noise is drawn whoever ranks, so the chunk's generator stays where the hand
    ranker leaves it.
    """
    cand, noise = _recall(
        rng, world, index, user, search, query_cat, params["recall_personal_share"], recall_size
    )
    draft: tuple[np.ndarray, np.ndarray] | None = None
    if scorer is not None:
        score = np.asarray(scorer(cand), dtype=np.float64).reshape(cand.shape)
    else:
        score = _hand_score(world, user, search, query_cat, params, cand, noise, rank_noise)
    if interleave is not None and len(interleave.rows):
        r = interleave.rows
        if interleave.scorer_b is not None:
            score_b = np.asarray(interleave.scorer_b(cand[r]), dtype=np.float64)
            score_b = score_b.reshape(len(r), cand.shape[1])
        else:
            score_b = _hand_score(
                world, user[r], search[r], query_cat[r], interleave.params_b, cand[r], noise[r],
                rank_noise,
            )
        draft = (r, score_b)
    del noise
    pool, valid = _rank(cand, score, slots, recall_size)
    team: np.ndarray | None = None
    contested: np.ndarray | None = None
    if draft is not None and interleave is not None:
        r, score_b = draft
        pool_b, valid_b = _rank(cand[r], score_b, slots[r], recall_size)
        # invalid slots (duplicates dropped) hold sentinels -1-col: distinct, and ranked last
        # by both rankers, so the draft places them only once the real items run out
        sentinel = -1 - np.arange(pool.shape[1], dtype=pool.dtype)[None, :]
        ranked_a = np.where(valid[r], pool[r], sentinel)
        ranked_b = np.where(valid_b, pool_b, sentinel)
        drafted = team_draft(ranked_a, ranked_b, interleave.flips(rounds_for(pool.shape[1])))
        pool[r] = np.maximum(drafted.items, 0)
        valid[r] = drafted.items >= 0
        team = np.full(pool.shape, -1, dtype=np.int8)
        team[r] = drafted.team
        contested = np.zeros(pool.shape, dtype=bool)
        contested[r] = drafted.contested
    out = _mix(rng, world, pool, valid, slots, params)
    if team is None or contested is None:
        return Served(row=out.row, item=out.item, position=out.position)
    col = out.column
    return Served(
        row=out.row, item=out.item, position=out.position,
        team=team[out.row, col], contested=contested[out.row, col],
    )


def _hand_score(
    world: World,
    user: np.ndarray,
    search: np.ndarray,
    query_cat: np.ndarray,
    params: dict[str, np.ndarray],
    cand: np.ndarray,
    noise: np.ndarray,
    rank_noise: float,
) -> np.ndarray:
    """The hand-weight ranker's score of every candidate ``(n, recall_size)``."""
    n = len(user)
    # Category part of the score as a per-request table (n, 24): one gather per candidate
    # instead of three comparisons (affinity) and one more (query match).
    rows = np.arange(n)
    cat_score = np.zeros((n, N_CATEGORIES), dtype=np.float32)
    w_aff = params["rank_w_affinity"].astype(np.float32) * _AFFINITY_SCALE
    for k in range(world.user_pref_cat.shape[1]):  # one preference slot at a time: no repeats
        cat_score[rows, world.user_pref_cat[user, k]] += w_aff * world.user_pref_w[user, k]
    cat_score[rows[search], query_cat[search]] += _QUERY_MATCH
    w_st = params["rank_w_short_term"].astype(np.float32)
    last = world.last_click_cat[user]
    st = (last >= 0) & (w_st != 0)  # all False at the baseline: scores stay bit-identical
    cat_score[rows[st], last[st]] += w_st[st]
    flat = (rows * N_CATEGORIES).astype(np.int32)[:, None] + world.item_cat[cand]
    score: np.ndarray = cat_score.reshape(-1)[flat]
    del flat
    score += params["rank_w_quality"].astype(np.float32)[:, None] * world.item_quality_est[cand]
    score += params["rank_w_price"].astype(np.float32)[:, None] * price_fit(
        world, user[:, None], cand
    )
    score += noise * np.float32(rank_noise)
    return score


def _rank(
    cand: np.ndarray, score: np.ndarray, slots: np.ndarray, recall_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rank: the best few per type queue by ``score``, distinct, best first.

    Returns the ranked pool ``(n, width)`` and its valid mask (False: a dropped duplicate,
    sorted last).
    """
    n = len(cand)
    # Rank: the best few per type queue (argpartition within each queue: O(candidates)).
    n_slots = int(slots.max(initial=1))
    picks, lo = [], 0
    for q, per_slot in zip(queue_sizes(recall_size), _POOL_PER_SLOT, strict=True):
        k = min(q, per_slot * n_slots)
        if k > 0:
            if k < q:
                part = np.argpartition(-score[:, lo : lo + q], k - 1, axis=1)[:, :k]
                picks.append(part + lo)
            else:
                picks.append(np.broadcast_to(np.arange(lo, lo + q), (n, q)))
        lo += q
    pool = np.concatenate(picks, axis=1)
    cand = np.take_along_axis(cand, pool, axis=1)
    score = np.take_along_axis(score, pool, axis=1)
    # Drop duplicate items (the same item recalled by two channels), then sort by score.
    by_item = np.argsort(cand, axis=1, kind="stable")
    cand = np.take_along_axis(cand, by_item, axis=1)
    score = np.take_along_axis(score, by_item, axis=1)
    dup = np.zeros(cand.shape, dtype=bool)
    dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
    score[dup] = -np.inf
    by_score = np.argsort(-score, axis=1, kind="stable")
    cand = np.take_along_axis(cand, by_score, axis=1)
    valid = np.isfinite(np.take_along_axis(score, by_score, axis=1))
    return cand, valid


@dataclass(frozen=True)
class _Mixed:
    """Mix's impressions, plus each one's column in the ranked pool."""

    row: np.ndarray
    item: np.ndarray
    position: np.ndarray
    column: np.ndarray


def _mix(
    rng: np.random.Generator,
    world: World,
    cand: np.ndarray,
    valid: np.ndarray,
    slots: np.ndarray,
    params: dict[str, np.ndarray],
) -> _Mixed:
    """Mix: fill the list from the ranked pool by type quotas, then keep cards apart."""
    n = len(cand)

    # Mix: per-type quotas of the slots, randomized rounding so shares hold on average.
    ctype = world.item_type[cand]
    slots_f = slots.astype(np.float64)
    q_video = np.floor(slots_f * params["mix_video_share"] + rng.random(n)).astype(np.int64)
    q_live = np.floor(slots_f * params["mix_live_share"] + rng.random(n)).astype(np.int64)
    q_live = np.minimum(q_live, slots)
    q_video = np.minimum(q_video, slots - q_live)
    quota = np.stack([slots - q_video - q_live, q_video, q_live], axis=1)
    keep = np.zeros(cand.shape, dtype=bool)
    for t in range(N_TYPES):  # product, video, live
        is_t = (ctype == t) & valid
        keep |= is_t & (np.cumsum(is_t, axis=1) <= quota[:, t : t + 1])
    rest = valid & ~keep
    short = slots - keep.sum(axis=1)
    final = keep | (rest & (np.cumsum(rest, axis=1) <= short[:, None]))
    position = _interleave(final, ctype)
    row, col = np.nonzero(final)
    return _Mixed(row=row, item=cand[row, col], position=position[row, col], column=col)


def _interleave(final: np.ndarray, ctype: np.ndarray) -> np.ndarray:
    """Positions of the chosen candidates: ranker order, but video/live cards kept apart.

    A feed shows at least one product between two video or live cards whenever the list has
    room for that (2·cards - 1 ≤ length); cards move down as little as needed (and up only when
    the end of the list is reached), products fill the other slots in ranker order.
    ``final`` and ``ctype`` are ``(n, pool)`` in ranker order; the result is -1 where not chosen.

    Card j (0-based among cards) at natural position a_j goes to
    b_j = min(g·j + max_{i≤j}(a_i - g·i), length - 1 - g·(cards - 1 - j)) with gap g = 2: the
    smallest positions ≥ a_j that keep the gap, capped so that the later cards still fit.
    """
    n, width = final.shape
    natural = np.cumsum(final, axis=1) - 1
    card = final & (ctype != 0)
    j = np.cumsum(card, axis=1) - 1
    n_cards = card.sum(axis=1)[:, None]
    length = final.sum(axis=1)[:, None]
    gap = np.where(2 * n_cards - 1 <= length, 2, 1)
    floor = np.maximum.accumulate(np.where(card, natural - gap * j, -width), axis=1)
    placed = np.minimum(gap * j + floor, length - 1 - gap * (n_cards - 1 - j))
    position = np.full(final.shape, -1, dtype=np.int32)
    position[card] = placed[card]
    # Products take the free slots in order: the k-th product of a row gets its k-th free slot
    # (row-major np.nonzero lists both in the same row order, with equal counts per row).
    free = np.arange(width)[None, :] < length
    c_row, c_col = np.nonzero(card)
    free[c_row, position[c_row, c_col]] = False
    _, free_pos = np.nonzero(free)
    p_row, p_col = np.nonzero(final & ~card)
    position[p_row, p_col] = free_pos
    return position
