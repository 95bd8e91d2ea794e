"""Offline metrics of a CTR/CVR model on a later window, vectorized (no loop over impressions).

What each one answers, and why it is here:

- **AUC**: does the model order a clicked impression above a non-clicked one, over the whole
  window. Rank-based (Mann-Whitney U with average ranks for ties), so it equals scikit-learn's
  ``roc_auc_score`` on the same inputs.
- **GAUC**: the same within each user, averaged with impression weights over users with both a
  click and a non-click. A ranker orders one user's candidates; pooled AUC also rewards telling
  heavy clickers from light ones, which no ranking ever needs.
- **log loss** and **calibration** (mean predicted vs observed rate per decile of the
  prediction): whether the scores are probabilities, which mixing and bidding downstream assume.
- **NDCG@k** per request against the label (clicks, or orders for a CVR model), averaged over
  requests with at least one positive: the quality of the order a user is actually shown.

A statistic that is undefined on its input (AUC without both classes, no request with a click)
comes back as ``None``, never a silent NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.stats import rankdata

__all__ = [
    "CalibrationBin",
    "OfflineMetrics",
    "auc",
    "calibration",
    "gauc",
    "log_loss",
    "ndcg_at_k",
    "offline_metrics",
]

ArrayLike = npt.ArrayLike
_EPS = 1e-15  # probability clip of the log loss (scikit-learn's historical default)


def _labels(y: ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(y, dtype=np.float64)


def auc(y: ArrayLike, score: ArrayLike) -> float | None:
    """Area under the ROC curve; ``None`` unless both classes occur.

    Example:
        >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
        >>> auc([1, 1], [0.2, 0.3]) is None
        True
    """
    yy = _labels(y)
    pos = float(yy.sum())
    neg = yy.size - pos
    if pos == 0 or neg == 0:
        return None
    ranks = rankdata(np.asarray(score, dtype=np.float64), method="average")
    return float((ranks[yy == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def gauc(users: ArrayLike, y: ArrayLike, score: ArrayLike) -> tuple[float | None, int]:
    """Impression-weighted mean of per-user AUC over users with both classes; ``(gauc, users)``.

    Example:
        >>> gauc([1, 1, 1, 2, 2], [0, 1, 0, 1, 0], [0.1, 0.9, 0.2, 0.3, 0.6])
        (0.6, 2)
    """
    frame = pl.DataFrame(
        {
            "u": np.asarray(users),
            "y": _labels(y),
            "s": np.asarray(score, dtype=np.float64),
        }
    )
    # rank-based AUC per user (Mann-Whitney): one pass of window ranks, one group_by
    per = (
        frame.with_columns(r=pl.col("s").rank("average").over("u"))
        .group_by("u")
        .agg(
            n=pl.len(),
            pos=pl.col("y").sum(),
            rsum=pl.col("r").filter(pl.col("y") == 1).sum(),
        )
        .with_columns(neg=pl.col("n") - pl.col("pos"))
        .filter((pl.col("pos") > 0) & (pl.col("neg") > 0))
        .with_columns(
            auc=(pl.col("rsum") - pl.col("pos") * (pl.col("pos") + 1) / 2)
            / (pl.col("pos") * pl.col("neg"))
        )
    )
    if per.height == 0:
        return None, 0
    weighted = float((per["auc"] * per["n"]).sum())
    return weighted / float(per["n"].sum()), per.height


def log_loss(y: ArrayLike, p: ArrayLike) -> float:
    """Mean binary cross-entropy, predictions clipped to ``[1e-15, 1 - 1e-15]``.

    Example:
        >>> round(log_loss([1, 0], [0.8, 0.2]), 6)
        0.223144
    """
    yy = _labels(y)
    pp = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return float(-np.mean(yy * np.log(pp) + (1 - yy) * np.log1p(-pp)))


@dataclass(frozen=True)
class CalibrationBin:
    """One bin of equal count: its rows, mean predicted probability and observed rate."""

    bin: int
    n: int
    predicted: float
    observed: float


def calibration(y: ArrayLike, p: ArrayLike, bins: int = 10) -> tuple[CalibrationBin, ...]:
    """Mean prediction and observed rate in ``bins`` equal-count bins of the prediction.

    Rows are ordered by prediction (stable, so ties keep their input order) and cut into bins of
    ``n // bins`` or one more rows; bin 0 holds the lowest predictions. Empty bins (fewer rows than
    bins) are left out, so ``sum(b.n) == len(y)`` and ``sum(b.n * b.observed) == sum(y)``.

    Example:
        >>> [(b.n, b.observed) for b in calibration([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], bins=2)]
        [(2, 0.0), (2, 1.0)]
    """
    yy = _labels(y)
    pp = np.asarray(p, dtype=np.float64)
    n = yy.size
    if n == 0:
        return ()
    order = np.argsort(pp, kind="stable")
    which = np.empty(n, dtype=np.int64)
    which[order] = (np.arange(n) * bins) // n
    count = np.bincount(which, minlength=bins)
    sum_p = np.bincount(which, weights=pp, minlength=bins)
    sum_y = np.bincount(which, weights=yy, minlength=bins)
    return tuple(
        CalibrationBin(b, int(count[b]), float(sum_p[b] / count[b]), float(sum_y[b] / count[b]))
        for b in range(bins)
        if count[b] > 0
    )


def ndcg_at_k(
    groups: ArrayLike, y: ArrayLike, score: ArrayLike, k: int = 10
) -> tuple[float | None, int]:
    """Mean NDCG@k over the groups (requests) with a positive; ``(ndcg, groups)``.

    Gain is the binary label (a click), discounted by ``log2(rank + 1)``; ties in the score
    keep the input order. The ideal order puts every positive first.

    Example:
        >>> ndcg_at_k([1, 1, 1], [0, 0, 1], [0.9, 0.5, 0.1], k=10)
        (0.5, 1)
    """
    frame = pl.DataFrame(
        {
            "g": np.asarray(groups),
            "y": _labels(y),
            "s": np.asarray(score, dtype=np.float64),
        }
    )

    def dcg(by: str) -> pl.Expr:
        rank = pl.col(by).rank("ordinal", descending=True).over("g")
        return (
            pl.when(rank <= k).then(pl.col("y") / (rank.cast(pl.Float64) + 1).log(2)).otherwise(0)
        )

    per = (
        frame.with_columns(dcg=dcg("s"), idcg=dcg("y"))
        .group_by("g")
        .agg(pl.col("dcg").sum(), pl.col("idcg").sum())
        .filter(pl.col("idcg") > 0)
    )
    if per.height == 0:
        return None, 0
    return float((per["dcg"] / per["idcg"]).mean()), per.height  # type: ignore[arg-type]


@dataclass(frozen=True)
class OfflineMetrics:
    """The offline evaluation of one model on one window (what the registry records)."""

    rows: int
    positives: int
    auc: float | None
    gauc: float | None
    gauc_users: int
    log_loss: float
    ndcg_at_10: float | None
    ndcg_requests: int
    calibration: tuple[CalibrationBin, ...]

    def scalars(self) -> dict[str, float]:
        """The defined scalar metrics, as MLflow logs them (``None`` ones are left out)."""
        out = {k: v for k, v in asdict(self).items() if k != "calibration" and v is not None}
        return {k: float(v) for k, v in out.items()}

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (calibration as a list of bins)."""
        return asdict(self)


def offline_metrics(
    labels: pl.DataFrame, label: str, ranking_score: ArrayLike, probability: ArrayLike
) -> OfflineMetrics:
    """Every offline metric of one window.

    Args:
        labels: the window's rows, with ``user_id``, ``request_id`` and the ``label`` column.
        label: the outcome column (``clicked``, or ``ordered`` for a CVR model).
        ranking_score: scores as serving computes them (position fixed at its serving value):
            AUC, GAUC and NDCG@10 judge the order a user would be shown.
        probability: scores at the logged positions: log loss and calibration judge whether the
            model's probabilities match what was observed for the impressions as shown.
    """
    y = labels[label].cast(pl.Float64).to_numpy()
    s = np.asarray(ranking_score, dtype=np.float64)
    p = np.asarray(probability, dtype=np.float64)
    g, users = gauc(labels["user_id"].to_numpy(), y, s)
    nd, requests = ndcg_at_k(labels["request_id"].to_numpy(), y, s, k=10)
    return OfflineMetrics(
        rows=int(y.size),
        positives=int(y.sum()),
        auc=auc(y, s),
        gauc=g,
        gauc_users=users,
        log_loss=log_loss(y, p),
        ndcg_at_10=nd,
        ndcg_requests=requests,
        calibration=calibration(y, p),
    )
