"""A/A calibration of the interleaving test: re-drawn coin flips on one logged log.

With the same ranker on both teams the served list does not depend on the coin flips, but the
teams do (``experiments.interleaving``: every slot is contested and its team is the flip's). So
one log of ranked lists and their clicks gives as many A/A replications as there are flip seeds:
replication ``r`` draws ``coin_flips(f"{seed}:{r}", request_id, rounds)``, drafts
``team_draft(lists, lists, flips)``, credits the clicks by team and runs the preference test of
``analysis.interleaving`` (user-clustered delta method). Its false-positive rate must be ≈ alpha.

Here, not in ``analysis``: the draft lives in ``experiments``, which analysis does not import;
the audit sits above both.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from shoplab.analysis.interleaving import preference_from_units, preference_row
from shoplab.audit.checks import binomial_ci
from shoplab.audit.results import AaCheck
from shoplab.core.errors import InputError
from shoplab.experiments.interleaving import TEAM_B, coin_flips, rounds_for, team_draft

__all__ = [
    "INTERLEAVING_METRIC",
    "AaResult",
    "LoggedLists",
    "interleaving_aa",
    "interleaving_aa_check",
    "logged_lists",
]

INTERLEAVING_METRIC: Final = "interleaving_preference"
"""The audit table's metric name of the interleaving A/A row."""


class AaResult(NamedTuple):
    """A/A replications of the interleaving preference test on one log.

    Attributes:
        replications: R.
        false_positives: replications with p < alpha (a NaN p-value: no rejection).
        fpr: false_positives / R.
        pvalues: the R p-values (NaN where the variance was 0).
    """

    replications: int
    false_positives: int
    fpr: float
    pvalues: np.ndarray


def interleaving_aa(
    items: npt.ArrayLike,
    clicked: npt.ArrayLike,
    user: npt.ArrayLike,
    request_id: npt.ArrayLike,
    *,
    replications: int = 1_000,
    alpha: float = 0.05,
    seed: str = "interleaving-aa",
) -> AaResult:
    """False-positive rate of the preference test with the same ranker on both teams.

    Args:
        items: ``(n, k)`` the logged lists (the one ranker's order), one row per request,
            distinct items per row.
        clicked: ``(n, k)`` whether each slot was clicked.
        user: ``(n,)`` the user of each request (the cluster).
        request_id: ``(n,)`` request ids (the coin flips hash them).
        replications: R; replication ``r`` draws its flips with seed ``f"{seed}:{r}"``.
        alpha: the test's level.
        seed: base seed of the flips.

    The loop is over replications; each is vectorized over requests (``team_draft``'s k steps
    and one ``np.bincount`` over users).

    Example:
        >>> rng = np.random.default_rng(1)
        >>> n, k = 3000, 6
        >>> items = np.tile(np.arange(k), (n, 1))
        >>> res = interleaving_aa(items, rng.random((n, k)) < 0.1, rng.integers(0, 400, n),
        ...                       np.arange(n), replications=50)
        >>> res.replications, 0 <= res.fpr <= 0.2
        (50, True)
    """
    it = np.asarray(items)
    clk = np.asarray(clicked, dtype=bool)
    u = np.asarray(user)
    rid = np.asarray(request_id)
    if it.ndim != 2 or clk.shape != it.shape:
        raise InputError(
            f"items.shape == {it.shape}, clicked.shape == {clk.shape}: must be equal (n, k)."
        )
    if u.shape != (it.shape[0],) or rid.shape != u.shape:
        raise InputError(
            f"user.shape == {u.shape}, request_id.shape == {rid.shape}: must be ({it.shape[0]},)."
        )
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        raise InputError(f"replications == {replications!r}, must be an integer >= 1.")
    if not 0 < alpha < 1:
        raise InputError(f"alpha == {alpha}, must be in (0, 1).")
    _, cluster = np.unique(u, return_inverse=True)
    n_users = int(cluster.max()) + 1 if cluster.size else 0
    n_i = np.bincount(cluster, minlength=n_users).astype(np.float64)
    clicks = clk.sum(axis=1)
    rounds = rounds_for(it.shape[1])
    pvalues = np.full(replications, np.nan)
    for r in range(replications):
        team = team_draft(it, it, coin_flips(f"{seed}:{r}", rid, rounds)).team
        b = (clk & (team == TEAM_B)).sum(axis=1)
        wins = np.sign(2 * b - clicks)  # +1: B won the request, −1: A won, 0: a tie
        d_i = np.bincount(cluster, weights=wins, minlength=n_users).astype(np.float64)
        p = preference_row("wins", preference_from_units(d_i, n_i), alpha=alpha).pvalue
        if p is not None:
            pvalues[r] = p
    fp = int(np.sum(np.nan_to_num(pvalues, nan=1.0) < alpha))
    return AaResult(replications, fp, fp / replications, pvalues)


class LoggedLists(NamedTuple):
    """Ranked lists of logged requests as ``(n, k)`` arrays (the A/A's input)."""

    items: np.ndarray
    clicked: np.ndarray
    user: np.ndarray
    request_id: np.ndarray


def logged_lists(max_requests: int, k: int = 10, seed: int = 0) -> LoggedLists:
    """The first ``k`` slots of the logged requests of whole users, up to ``max_requests``.

    Reads ``events/impressions`` and ``events/clicks`` of the current data root. Users are
    drawn at random (seeded) and kept whole, so the clusters are intact; a slot past a
    request's list is a placeholder item (negative id, never clicked).

    Raises:
        InputError: ``max_requests`` or ``k`` < 1.
        analysis.EventTableMissingError: no impressions files.
    """
    from shoplab.analysis.unit_query import files_sql, require_files
    from shoplab.core.duck import connect

    if max_requests < 1 or k < 1:
        raise InputError(f"max_requests == {max_requests}, k == {k}: must be >= 1.")
    imps = require_files("impressions", "the interleaving A/A (logged lists)")
    clicks = require_files("clicks", "the interleaving A/A (clicks per slot)")
    con = connect(ordered=False)
    try:
        # users in a seeded random order, whole, until max_requests requests
        rows = con.execute(
            f"""
            WITH r AS (SELECT user_id, count(DISTINCT request_id) AS n
                       FROM read_parquet({files_sql(imps)}) WHERE position < {k}
                       GROUP BY user_id),
            o AS (SELECT user_id, sum(n) OVER (ORDER BY hash(user_id + {seed}), user_id)
                         AS cum FROM r),
            keep AS (SELECT user_id FROM o WHERE cum <= {max_requests})
            SELECT i.request_id, i.user_id, i.item_id, i.position,
                   (c.request_id IS NOT NULL) AS clicked
            FROM read_parquet({files_sql(imps)}) i
            JOIN keep USING (user_id)
            LEFT JOIN (SELECT DISTINCT request_id, item_id FROM read_parquet({files_sql(clicks)}))
                 c USING (request_id, item_id)
            WHERE i.position < {k}
            """
        ).fetchnumpy()
    finally:
        con.close()
    rid_all = np.asarray(rows["request_id"])
    rid, row = np.unique(rid_all, return_inverse=True)
    n = rid.size
    pos = np.asarray(rows["position"]).astype(np.int64)
    items = -(np.arange(n * k, dtype=np.int64).reshape(n, k) + 1)  # distinct placeholders
    clicked = np.zeros((n, k), dtype=bool)
    items[row, pos] = np.asarray(rows["item_id"])
    clicked[row, pos] = np.asarray(rows["clicked"], dtype=bool)
    user = np.zeros(n, dtype=np.int64)
    user[row] = np.asarray(rows["user_id"])
    return LoggedLists(items, clicked, user, rid)


def interleaving_aa_check(
    lists: LoggedLists,
    *,
    replications: int,
    alpha: float,
    band: tuple[float, float],
    seed: str,
) -> AaCheck:
    """The audit table's row of the interleaving A/A (``metric`` :data:`INTERLEAVING_METRIC`)."""
    res = interleaving_aa(*lists, replications=replications, alpha=alpha, seed=seed)
    lo, hi = binomial_ci(res.false_positives, res.replications)
    return AaCheck(
        INTERLEAVING_METRIC,
        False,
        res.replications,
        res.fpr,
        lo,
        hi,
        band[0] <= res.fpr <= band[1],
        band[0],
        band[1],
        withheld=float(np.isnan(res.pvalues).mean()),
    )
