"""What the Models page shows about a registered version: calibration, importance, deployment.

- :func:`calibration` reads the version's ``offline_metrics.json`` run artifact (written at
  training: predicted vs observed click rate in ten equal-count bins of the valid window).
- :func:`feature_importance` asks the fitted estimator, per input feature of the service: total
  split gain for LightGBM, and for logistic regression the absolute standardized coefficient
  (inputs are standardized before the fit, so coefficients are comparable; a category's one-hot
  block and a number's missing-value flag are summed into their feature).
- :func:`deployments` lists which experiment and variant of the rank layer name which model
  reference, resolved to the version it serves today (an alias moves; a missing version says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from shoplab.models.errors import ModelLoadError, UnknownModelError
from shoplab.models.registry import ModelVersionInfo, mlflow_client, resolve

__all__ = [
    "Deployment",
    "calibration",
    "deployments",
    "feature_importance",
    "metrics_table",
    "offline_online",
]


def calibration(info: ModelVersionInfo) -> pl.DataFrame:
    """``bin, n, predicted, observed`` of the version's valid window (empty if not recorded)."""
    import mlflow

    empty = pl.DataFrame(schema={"bin": pl.Int64, "n": pl.Int64, "predicted": pl.Float64,
                                 "observed": pl.Float64})
    if not info.run_id:
        return empty
    try:
        with mlflow_client():
            doc = mlflow.artifacts.load_dict(f"runs:/{info.run_id}/offline_metrics.json")
    except Exception:  # a version trained elsewhere has no such artifact: nothing to plot
        return empty
    bins = doc.get("calibration") or []
    return pl.DataFrame(bins, schema=empty.schema) if bins else empty


def feature_importance(info: ModelVersionInfo) -> pl.DataFrame:
    """``feature, importance, kind`` of a version, largest first.

    Raises:
        ModelLoadError: the artifact cannot be loaded, or it is not a built-in ranker (an
            arbitrary pyfunc model does not say how it weighs its inputs).
    """
    from shoplab.models.loaded import load

    ranker = load(info).ranker
    if ranker is None:
        raise ModelLoadError(
            f"model {info.ref} is not a built-in ranker, must be one (lightgbm or logreg) for "
            "its feature importance to be known."
        )
    enc = ranker.encoder
    if ranker.algo == "lightgbm":
        gain = np.asarray(ranker.estimator.feature_importance("gain"), dtype=np.float64)
        names, kind = list(enc.columns), "total split gain"
        values = gain[: len(names)]
    else:
        coef = np.abs(np.asarray(ranker.estimator.coef_, dtype=np.float64).reshape(-1))
        names = [*enc.numeric, *(c for c, _ in enc.categorical)]
        totals = dict.fromkeys(names, 0.0)
        i = 0
        for c in enc.numeric:
            totals[c] += float(coef[i])
            i += 1
        for c in enc.indicators:
            totals[c] += float(coef[i])
            i += 1
        for c, vocab in enc.categorical:
            totals[c] += float(coef[i : i + len(vocab)].sum())
            i += len(vocab)
        values, kind = np.asarray([totals[n] for n in names]), "|standardized coefficient|"
    return pl.DataFrame({"feature": names, "importance": values}).with_columns(
        kind=pl.lit(kind)
    ).sort("importance", descending=True)


@dataclass(frozen=True)
class Deployment:
    """One rank-layer variant that names a model, and the version it resolves to now."""

    experiment: str
    status: str
    variant: str
    reference: str
    version: str | None
    problem: str | None


def deployments(experiments: Mapping[str, Any], layer: str = "rank") -> list[Deployment]:
    """Every variant of ``layer`` whose params name a ``model``, resolved through the registry."""
    out = []
    for key, exp in sorted(experiments.items()):
        if exp.layer != layer:
            continue
        for v in exp.variants:
            ref = (v.params or {}).get("model")
            if not isinstance(ref, str):
                continue
            try:
                version, problem = resolve(ref).ref, None
            except UnknownModelError as exc:
                version, problem = None, str(exc)
            out.append(Deployment(key, exp.status, v.key, ref, version, problem))
    return out


def metrics_table(versions: Iterable[ModelVersionInfo]) -> pl.DataFrame:
    """One row per version: reference, aliases, service, algorithm, windows, offline metrics."""
    rows = []
    for v in versions:
        m = v.metrics
        rows.append({
            "model": v.ref,
            "aliases": ", ".join(f"@{a}" for a in v.aliases),
            "service": v.spec.service if v.spec else v.tags.get("shoplab.service", ""),
            "algo": v.tags.get("shoplab.algo", ""),
            "target": v.spec.target if v.spec else "",
            "train": f"{v.tags.get('shoplab.train_start', '')[:10]} → "
                     f"{v.tags.get('shoplab.train_end', '')[:10]}",
            "train_rows": int(v.tags.get("shoplab.train_rows", "0") or 0),
            "auc": m.get("auc"),
            "gauc": m.get("gauc"),
            "log_loss": m.get("log_loss"),
            "ndcg_at_10": m.get("ndcg_at_10"),
            "created": v.created,
        })
    return pl.DataFrame(rows) if rows else pl.DataFrame(schema={"model": pl.String})


def offline_online(experiment: Any, card: Any) -> pl.DataFrame:
    """Per model-served treatment arm: offline gain over control's model, online lift, agreement.

    Offline gains are on each version's own valid window (GAUC, NDCG@10 differences of the
    treatment's model minus the control's); online lifts are the scorecard's relative effects on
    CTR and GMV per user with their intervals. ``agree`` compares the sign of the GAUC gain with
    the sign of the CTR lift (None when either is missing); a mismatch is the classic warning
    that an offline metric does not predict the product's.

    Args:
        experiment: the experiment config (its variants' ``model`` params).
        card: its Scorecard (``analysis.Scorecard``).
    """
    models = {d.variant: d for d in deployments({experiment.key: experiment}, experiment.layer)}
    control = experiment.variants[0].key
    base = models.get(control)
    base_metrics = _metrics_of(base)
    rows = []
    by = {(r.metric, r.variant): r for r in card.rows}
    for v in experiment.variants[1:]:
        d = models.get(v.key)
        if d is None:
            continue
        m = _metrics_of(d)
        gauc = _gain(m, base_metrics, "gauc")
        ndcg = _gain(m, base_metrics, "ndcg_at_10")
        ctr, gmv = by.get(("ctr", v.key)), by.get(("gmv_per_user", v.key))
        lift = ctr.rel_effect if ctr is not None else None
        rows.append({
            "variant": v.key,
            "model": d.version or f"unresolved: {d.reference}",
            "control_model": base.version if base is not None else None,
            "gauc_gain": gauc,
            "ndcg_at_10_gain": ndcg,
            "ctr_lift": lift,
            "ctr_ci_lower": ctr.rel_ci_lower if ctr is not None else None,
            "ctr_ci_upper": ctr.rel_ci_upper if ctr is not None else None,
            "gmv_lift": gmv.rel_effect if gmv is not None else None,
            "gmv_ci_lower": gmv.rel_ci_lower if gmv is not None else None,
            "gmv_ci_upper": gmv.rel_ci_upper if gmv is not None else None,
            "agree": None if gauc is None or lift is None or gauc == 0 or lift == 0
            else (gauc > 0) == (lift > 0),
        })
    return pl.DataFrame(rows) if rows else pl.DataFrame(schema={"variant": pl.String})


def _metrics_of(d: Deployment | None) -> dict[str, Any]:
    if d is None or d.version is None:
        return {}
    from shoplab.models.registry import get_version

    return get_version(d.version).metrics


def _gain(m: Mapping[str, Any], base: Mapping[str, Any], key: str) -> float | None:
    a, b = m.get(key), base.get(key)
    return None if a is None or b is None else float(a) - float(b)
