"""Off-policy evaluation: a new ranker's CTR estimated from the logs of a policy that randomized.

Before a ranker takes any traffic, the logs of the policy that served (the *behavior* policy
π_b, with the probability it gave each item it showed) say how a new *evaluation* policy π_e
would have done, as long as π_b gave a chance to what π_e would show. The estimators are those
of the Open Bandit Pipeline (Saito et al. 2020, "Open Bandit Dataset and Pipeline"), per slot:
an action is an item at a slot, and π_e is given as its probabilities
``action_dist[row, item, slot]`` for each logged (context, slot), as OBP's ``action_dist``.

With ``w_i = π_e(a_i | x_i, k_i) / π_b(a_i | x_i, k_i)`` for logged row ``i`` (item ``a_i``
shown at slot ``k_i`` in context ``x_i``, reward ``r_i``):

- IPW (inverse propensity weighting): ``mean(w_i r_i)``. Unbiased when the logged propensities
  are the true ones and π_b > 0 wherever π_e > 0 (*support*); its variance grows with the
  weights, so a π_e far from π_b (large ``w``) makes it noisy.
- SNIPW (self-normalized): ``Σ w_i r_i / Σ w_i``. Biased by O(1/n), but bounded by the rewards'
  range and usually of lower variance; it also forgives propensities known only up to a factor.
- DR (doubly robust): ``mean(Σ_a π_e(a | x_i, k_i) q̂(x_i, a, k_i) + w_i (r_i − q̂(x_i, a_i, k_i)))``
  with a reward model ``q̂``: unbiased if the propensities are right (whatever ``q̂``), and of
  lower variance the better ``q̂`` is. The default ``q̂`` is the per (item, slot) click rate,
  cross-fitted (each row's ``q̂`` learnt from the other folds) and shrunk towards its slot's rate.

Intervals are percentile bootstraps over logged rows (``n_bootstrap`` resamples), the ratio of
SNIPW recomputed on each resample. Where they break: support fails (π_e shows what π_b never
could: IPW and DR are then biased, and nothing in the log says so: :attr:`OpeEstimate.ess`
falling far below ``n`` is the symptom of heavy weights); propensities logged wrong or rounded;
a reward that depends on the other items of the list (the per-slot model assumes a click
depends on the item and its slot only, OBP's assumption); π_b or π_e drifting over the log
(both are taken as fixed); and few rewards: with a 0.4 % CTR, 10,000 rows hold ~40 clicks and
every interval is wide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from shoplab.core.errors import DataError, InputError

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "LoggedFeedback",
    "OpeEstimate",
    "OpeResult",
    "cross_fitted_rewards",
    "evaluate_policy",
    "logged_feedback",
    "off_policy_estimates",
    "thompson_action_dist",
]

Estimator = Literal["ipw", "snipw", "dr"]
ESTIMATORS: Final[tuple[Estimator, ...]] = ("ipw", "snipw", "dr")
_SUM_TOL: Final = 1e-6
_GATHER: Final = 4_000_000  # resampled values held at once by the bootstrap (32 MB of float64)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class OpeEstimate:
    """One estimator's value of π_e on one slot (``slot=None``: every logged row).

    Attributes:
        estimator: ``ipw``, ``snipw`` or ``dr``.
        slot: the 0-based slot, or None for all slots together (the mean over logged rows).
        value: the estimated mean reward of π_e (its CTR when rewards are clicks).
        ci_lower, ci_upper: percentile bootstrap interval at ``1 - alpha``.
        n: logged rows used.
        ess: effective sample size of the weights, ``(Σ w)² / Σ w²``: far below ``n``, a few
            rows carry the estimate.
        max_weight: the largest ``π_e / π_b`` of the rows.
    """

    estimator: Estimator
    slot: int | None
    value: float
    ci_lower: float
    ci_upper: float
    n: int
    ess: float
    max_weight: float


@dataclass(frozen=True)
class OpeResult:
    """Every estimate of one evaluation: per estimator, all slots and each slot."""

    estimates: tuple[OpeEstimate, ...]
    alpha: float
    n_bootstrap: int

    def get(self, estimator: Estimator, slot: int | None = None) -> OpeEstimate:
        """The estimate of ``estimator`` on ``slot`` (None: all slots).

        Raises:
            InputError: no such estimator or slot in this result (the known ones are named).
        """
        for e in self.estimates:
            if e.estimator == estimator and e.slot == slot:
                return e
        known = sorted({(e.estimator, -1 if e.slot is None else e.slot) for e in self.estimates})
        raise InputError(
            f"(estimator, slot) == ({estimator!r}, {slot!r}), must be one of "
            f"{[(k, None if s < 0 else s) for k, s in known]}."
        )


@dataclass(frozen=True)
class LoggedFeedback:
    """Logged bandit feedback: per shown (request, item), its slot, reward and propensity."""

    request_ids: IntArray
    item_ids: IntArray
    slots: IntArray
    rewards: FloatArray
    propensities: FloatArray

    @property
    def n(self) -> int:
        """Logged rows."""
        return int(self.item_ids.size)


def _array(name: str, values: Any, dtype: type) -> Any:
    try:
        out: npt.NDArray[Any] = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(
            f"{name}: cannot be read as {np.dtype(dtype).name} values, must be numbers."
        ) from None
    if out.ndim != 1:
        raise InputError(f"{name}.shape == {out.shape}, must be one-dimensional.")
    return out


def _first_bad(name: str, bad: npt.NDArray[np.bool_], values: Any, rule: str) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{name}[{i}] == {values[i].item()!r}, {rule} ({int(bad.sum()):,} rows break it)."
        )


def _ints(name: str, values: Any, upper: int) -> IntArray:
    x = np.asarray(values)
    if x.dtype.kind not in "iu":
        if x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.round(x)):
            x = x.astype(np.int64)
        else:
            raise InputError(f"{name}.dtype == {x.dtype}, must be integers (indices).")
    out: IntArray = _array(name, x, np.int64)
    _first_bad(name, (out < 0) | (out >= upper), out, f"must be in [0, {upper})")
    return out


def _policy(name: str, dist: Any, n: int) -> FloatArray:
    """``dist`` as (n, n_actions, n_slots), checked: non-negative, each column summing to 1.

    A (n_actions, n_slots) array is a context-free policy, the same for every row (broadcast,
    not copied).
    """
    d = np.asarray(dist, dtype=np.float64)
    if d.ndim == 2:
        d = np.broadcast_to(d, (n, *d.shape))
    if d.ndim != 3 or d.shape[0] != n:
        raise InputError(
            f"{name}.shape == {np.shape(dist)}, must be (rows, actions, slots) with "
            f"rows == {n}, or (actions, slots) for a context-free policy."
        )
    if not np.all(np.isfinite(d)) or (d < 0).any():
        raise InputError(f"{name}: holds a negative or non-finite probability, must be in [0, 1].")
    return d


def _check_sums(name: str, d: FloatArray) -> None:
    sums = d.sum(axis=1)  # (rows, slots): over the actions of each (context, slot)
    bad = np.abs(sums - 1) > _SUM_TOL
    if bad.any():
        i, k = (int(v[0]) for v in np.nonzero(bad))
        raise InputError(
            f"{name}[{i}, :, {k}].sum() == {round(float(sums[i, k]), 6)}, must be 1 "
            "(a distribution over the actions of each row and slot)."
        )


def cross_fitted_rewards(
    actions: Any,
    slots: Any,
    rewards: Any,
    *,
    n_actions: int,
    n_slots: int,
    folds: int = 2,
    prior_weight: float = 10.0,
    seed: int = 0,
) -> FloatArray:
    """The DR reward model: q̂(a, k) per row, the click rate of item ``a`` at slot ``k``.

    Cross-fitted: rows are split into ``folds`` at random and each row's table is learnt from
    the other folds, so a row's own reward never enters its ``q̂`` (which would bias DR). Each
    (item, slot) rate is shrunk towards its slot's rate with ``prior_weight`` pseudo-rows: an
    item shown 3 times without a click gets about its slot's rate, not 0.

    Returns:
        ``(rows, n_actions)``: q̂ of every action at the row's logged slot (what DR reads).

    Example:
        >>> q = cross_fitted_rewards([0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0], n_actions=2,
        ...                          n_slots=1, folds=2, prior_weight=0.0, seed=1)
        >>> q.shape
        (4, 2)
    """
    a = _ints("actions", actions, n_actions)
    k = _ints("slots", slots, n_slots)
    r = _array("rewards", rewards, np.float64)
    if not a.size == k.size == r.size:
        raise InputError(
            f"len(actions), len(slots), len(rewards) == {a.size}, {k.size}, "
            f"{r.size}, must be equal."
        )
    if folds < 2 or prior_weight < 0:
        raise InputError(f"folds, prior_weight == {folds}, {prior_weight}, must be >= 2 and >= 0.")
    fold = np.random.default_rng(seed).integers(0, folds, a.size)
    cell = a * n_slots + k
    size = n_actions * n_slots
    tables = np.empty((folds, n_actions, n_slots))
    for f in range(folds):  # a loop over folds, not rows
        train = fold != f
        clicks = np.bincount(cell[train], weights=r[train], minlength=size)
        shown = np.bincount(cell[train], minlength=size).astype(np.float64)
        slot_shown = np.bincount(k[train], minlength=n_slots).astype(np.float64)
        slot_rate = np.bincount(k[train], weights=r[train], minlength=n_slots) / np.maximum(
            slot_shown, 1.0
        )
        prior = np.tile(slot_rate, n_actions)
        rate = (clicks + prior_weight * prior) / np.maximum(shown + prior_weight, 1e-12)
        tables[f] = np.where(shown + prior_weight > 0, rate, prior).reshape(n_actions, n_slots)
    out: FloatArray = tables[fold, :, k]
    return out


def _bootstrap(
    num: FloatArray, den: FloatArray | None, n_bootstrap: int, rng: np.random.Generator
) -> FloatArray:
    """``n_bootstrap`` resampled means of ``num`` (or ratios Σ num / Σ den), in chunks.

    A ratio's resample without a positive weight is undefined (NaN) and left out of the
    quantiles: it only happens when π_e rarely shows what was logged, and ``ess`` says so.
    """
    n = num.size
    chunk = max(1, _GATHER // max(n, 1))
    out = np.empty(n_bootstrap)
    for lo in range(0, n_bootstrap, chunk):  # chunks of resamples, each vectorized over rows
        hi = min(lo + chunk, n_bootstrap)
        idx = rng.integers(0, n, (hi - lo, n))
        s = num[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # Σ w == 0: a NaN, left out
            out[lo:hi] = s / (den[idx].sum(axis=1) if den is not None else n)
    return out


def off_policy_estimates(
    *,
    actions: Any,
    slots: Any,
    rewards: Any,
    propensities: Any,
    action_dist: Any,
    estimated_rewards: Any | None = None,
    estimators: Sequence[Estimator] = ESTIMATORS,
    per_slot: bool = True,
    alpha: float = 0.05,
    n_bootstrap: int = 2_000,
    seed: int = 0,
) -> OpeResult:
    """Estimate π_e's mean reward from π_b's logs by IPW, SNIPW and DR, with bootstrap intervals.

    Args:
        actions: the logged item of each row, as an index in ``[0, n_actions)``.
        slots: the logged 0-based slot of each row, in ``[0, n_slots)``.
        rewards: the logged reward (a click: 0 or 1).
        propensities: π_b of the logged item at the logged slot, in (0, 1].
        action_dist: π_e: ``(rows, n_actions, n_slots)`` probabilities, each ``[row, :, slot]``
            summing to 1; or ``(n_actions, n_slots)`` for a policy that ignores the context.
        estimated_rewards: DR's q̂, shaped like ``action_dist``; default
            :func:`cross_fitted_rewards` (2 folds).
        estimators: which of ``ipw``, ``snipw``, ``dr``.
        per_slot: also estimate each slot on its own rows (default), besides all rows.
        alpha: 1 − the intervals' coverage.
        n_bootstrap: resamples of the intervals.
        seed: of the bootstrap and of the folds.

    Raises:
        InputError: arrays of different lengths, an index out of range, a propensity outside
            (0, 1], a distribution that does not sum to 1 (the row, slot and sum named).

    Example:
        >>> res = off_policy_estimates(actions=[0, 1, 0, 1], slots=[0, 0, 0, 0],
        ...     rewards=[1, 0, 0, 0], propensities=[0.5] * 4, action_dist=[[1.0], [0.0]],
        ...     estimators=["ipw", "snipw"], n_bootstrap=200)
        >>> res.get("ipw").value, res.get("snipw").value
        (0.5, 0.5)
    """
    r = _array("rewards", rewards, np.float64)
    n = r.size
    p = _array("propensities", propensities, np.float64)
    d = _policy("action_dist", action_dist, n)
    _, n_actions, n_slots = d.shape
    a = _ints("actions", actions, n_actions)
    k = _ints("slots", slots, n_slots)
    if not a.size == k.size == p.size == n or n == 0:
        raise InputError(
            f"len(actions), len(slots), len(rewards), len(propensities) == "
            f"{a.size}, {k.size}, {n}, {p.size}, must be equal and > 0."
        )
    _first_bad("rewards", ~np.isfinite(r), r, "must be finite")
    _first_bad(
        "propensities",
        ~((p > 0) & (p <= 1)),
        p,
        "must be in (0, 1] (π_b of the logged item; 0 means it could not have been shown)",
    )
    _check_sums("action_dist", d)
    unknown = sorted(set(estimators) - set(ESTIMATORS))
    if unknown or not estimators:
        raise InputError(
            f"estimators == {list(estimators)}, must be a non-empty subset of {list(ESTIMATORS)}."
        )
    if not 0 < alpha < 1 or n_bootstrap < 1:
        raise InputError(
            f"alpha, n_bootstrap == {alpha}, {n_bootstrap}, must be in (0, 1) and >= 1."
        )

    rows = np.arange(n)
    w = d[rows, a, k] / p
    pi_e = d[rows, :, k]  # (rows, n_actions): π_e over the actions at the row's slot
    if "dr" in estimators:
        if estimated_rewards is None:
            q = cross_fitted_rewards(a, k, r, n_actions=n_actions, n_slots=n_slots, seed=seed)
        else:
            q = _policy("estimated_rewards", estimated_rewards, n)[rows, :, k]
        dr = (pi_e * q).sum(axis=1) + w * (r - q[rows, a])
    rng = np.random.default_rng(seed)
    groups: list[tuple[int | None, npt.NDArray[np.bool_] | None]] = [(None, None)]
    if per_slot:
        groups += [(s, k == s) for s in range(n_slots)]
    out = []
    for slot, mask in groups:  # a loop over slots
        sel = rows if mask is None else np.flatnonzero(mask)
        if sel.size == 0:
            continue
        ws, rs = w[sel], r[sel]
        ess = float(ws.sum() ** 2 / (ws**2).sum()) if (ws > 0).any() else 0.0
        for name in estimators:
            if name == "ipw":
                num, den = ws * rs, None
            elif name == "snipw":
                num, den = ws * rs, ws
            else:
                num, den = dr[sel], None
            if den is not None and den.sum() == 0:
                raise DataError(
                    f"slot == {slot}: Σ w == 0, must be > 0 for snipw: π_e gives "
                    "probability 0 to every logged action of the slot."
                )
            value = float(num.sum() / (den.sum() if den is not None else sel.size))
            boots = _bootstrap(num, den, n_bootstrap, rng)
            lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2])
            out.append(
                OpeEstimate(
                    name, slot, value, float(lo), float(hi), int(sel.size), ess, float(ws.max())
                )
            )
    return OpeResult(tuple(out), alpha, n_bootstrap)


def thompson_action_dist(
    alpha: Any, beta: Any, *, n_slots: int, n_sim: int = 100_000, seed: int = 0
) -> FloatArray:
    """The action distribution of a Bernoulli Thompson sampling ranker, by Monte Carlo.

    Each draw samples every item's click rate from its ``Beta(alpha, beta)`` posterior and
    shows the ``n_slots`` highest in order; the share of draws with item ``a`` at slot ``k`` is
    ``π(a, k)``: how the OBP paper obtains the BTS policy's probabilities (``n_sim`` = 100,000,
    as there). Context-free, so one ``(n_items, n_slots)`` array serves every row.

    Example:
        >>> d = thompson_action_dist([1000.0, 1.0], [1.0, 1000.0], n_slots=2, n_sim=1000)
        >>> d.tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    a = _array("alpha", alpha, np.float64)
    b = _array("beta", beta, np.float64)
    if a.size != b.size or a.size < n_slots or n_slots < 1:
        raise InputError(
            f"len(alpha), len(beta), n_slots == {a.size}, {b.size}, {n_slots}, "
            "must be equal lengths >= n_slots >= 1."
        )
    _first_bad("alpha", ~(a > 0), a, "must be > 0")
    _first_bad("beta", ~(b > 0), b, "must be > 0")
    rng = np.random.default_rng(seed)
    counts = np.zeros((a.size, n_slots))
    chunk = max(1, _GATHER // a.size)
    for lo in range(0, n_sim, chunk):  # chunks of draws, each vectorized
        theta = rng.beta(a, b, size=(min(chunk, n_sim - lo), a.size))
        top = np.argsort(-theta, axis=1)[:, :n_slots]
        for s in range(n_slots):  # a loop over slots
            counts[:, s] += np.bincount(top[:, s], minlength=a.size)
    out: FloatArray = counts / n_sim
    return out


def logged_feedback(policy: str) -> LoggedFeedback:
    """The log of one behavior ``policy``: its impressions, clicks and propensities.

    Reads the event tables under ``$SHOPLAB_DATA/events`` (``propensities`` joined to
    ``impressions`` on request and item for the slot, clicks for the reward), ordered by
    request and slot.

    Raises:
        EventTableMissingError: the impressions or propensities table has no files.
        DataError: the policy logged no rows, or a propensity has no impression (the first
            one is named).
    """
    from shoplab.analysis.unit_query import all_files, files_sql, require_files
    from shoplab.core.duck import connect

    props = files_sql(require_files("propensities", "off-policy evaluation"))
    imps = files_sql(require_files("impressions", "off-policy evaluation"))
    clicks = all_files("clicks")
    click_sql = (
        f"SELECT DISTINCT request_id, item_id FROM read_parquet({files_sql(clicks)})"
        if clicks
        else "SELECT NULL::BIGINT AS request_id, NULL::BIGINT AS item_id WHERE false"
    )
    con = connect(ordered=False)
    try:
        con.execute(
            "CREATE TEMP TABLE p AS SELECT request_id, item_id, propensity FROM "
            f"read_parquet({props}) WHERE policy = ?",
            [policy],
        )
        orphan = con.execute(
            "SELECT count(*), min(request_id) FROM p ANTI JOIN (SELECT request_id, item_id FROM "
            f"read_parquet({imps})) i USING (request_id, item_id)"
        ).fetchall()[0]
        if orphan[0]:
            raise DataError(
                f"propensities of policy == {policy!r}: {orphan[0]:,} rows (first "
                f"request_id == {orphan[1]}) have no impression, must each match "
                "one impression (request_id, item_id)."
            )
        got = con.execute(
            "SELECT p.request_id, p.item_id, i.position, (c.request_id IS NOT NULL)::DOUBLE, "
            f"p.propensity FROM p JOIN (SELECT DISTINCT request_id, item_id, position FROM "
            f"read_parquet({imps})) i USING (request_id, item_id) LEFT JOIN ({click_sql}) c "
            "USING (request_id, item_id) ORDER BY p.request_id, i.position"
        ).fetchnumpy()
    finally:
        con.close()
    if got["request_id"].size == 0:
        raise DataError(
            f"policy == {policy!r}: no rows in events/propensities, must be a policy the log holds."
        )
    cols = list(got)
    return LoggedFeedback(
        request_ids=np.asarray(got[cols[0]], dtype=np.int64),
        item_ids=np.asarray(got[cols[1]], dtype=np.int64),
        slots=np.asarray(got[cols[2]], dtype=np.int64),
        rewards=np.asarray(got[cols[3]], dtype=np.float64),
        propensities=np.asarray(got[cols[4]], dtype=np.float64),
    )


def evaluate_policy(
    policy: str, action_dist: Any, *, items: Sequence[int] | None = None, **kw: Any
) -> OpeResult:
    """Estimate ``action_dist`` (π_e) from the logs of behavior ``policy`` in the event log.

    Args:
        policy: the logging policy whose rows of ``events/propensities`` are read
            (:func:`logged_feedback`).
        action_dist: π_e per logged row (in :func:`logged_feedback`'s order: by request, then
            slot), or ``(n_actions, n_slots)`` for a context-free policy.
        items: the item id of each action index of ``action_dist`` (default: the item id is the
            index, as in the Open Bandit Dataset).
        **kw: :func:`off_policy_estimates`' options (estimators, alpha, n_bootstrap, seed, ...).

    Raises:
        InputError: a logged item that is not among ``items`` (the first one named), or any
            rule of :func:`off_policy_estimates`.
        DataError, EventTableMissingError: as :func:`logged_feedback`.
    """
    log = logged_feedback(policy)
    actions = log.item_ids
    if items is not None:
        ids = np.asarray(items, dtype=np.int64)
        shape = np.shape(action_dist)
        if ids.ndim != 1 or len(shape) < 2 or ids.size != shape[-2]:
            raise InputError(
                f"len(items) == {ids.size}, must equal the actions of action_dist "
                f"(shape {shape}: rows, actions, slots)."
            )
        order = np.argsort(ids)
        at = np.minimum(np.searchsorted(ids[order], actions), ids.size - 1)
        _first_bad(
            "item_ids",
            ids[order][at] != actions,
            actions,
            "must be one of items (the actions of action_dist)",
        )
        actions = order[at]
    return off_policy_estimates(
        actions=actions,
        slots=log.slots,
        rewards=log.rewards,
        propensities=log.propensities,
        action_dist=action_dist,
        **kw,
    )
