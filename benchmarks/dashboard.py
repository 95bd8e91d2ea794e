"""Dashboard benchmark: a 10M-user experiment's scorecard loads from the cache in under a second.

The dashboard never recomputes a scorecard on page load: it reads ``<scorecards_dir>/<key>.json``
(written by ``analysis.analyze``) and turns it into the frames the pages draw. The JSON's size
depends on metrics × variants × (segments + days), not on users, so the full case synthesizes the
scorecard of a 10M-user, 3-arm, 28-day experiment with 12 metrics broken down by every segment of
every dimension (26 segments), and the counts of a 10M-user split.

Cases (medians of repeated runs; peak RSS of a fresh subprocess per case):

- ``json_parse``: ``json.loads`` of the file, the lower bound (baseline);
- ``load_scorecard``: ``analysis.load_scorecard`` (parse + pydantic validation);
- ``page_frames``: load + every frame the Scorecard, Trends and Segments pages build
  (metric table, forest rows, sequential rows, daily series of every metric, segment table).
  The goal: under 1 s.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta

import numpy as np

from shoplab.benchmarks.harness import Result, child_report, run_in_subprocess, time_median

__all__ = ["run", "synthesize"]

_METRICS = [
    ("ctr", "business", "ratio"),
    ("cvr", "business", "ratio"),
    ("gmv_per_user", "business", "mean"),
    ("orders_per_user", "business", "mean"),
    ("aov", "business", "ratio"),
    ("buyer_rate", "business", "proportion"),
    ("refund_rate", "guardrail", "ratio"),
    ("new_item_exposure_share", "ecosystem", "ratio"),
    ("clicks_per_user", "business", "mean"),
    ("impressions_per_user", "guardrail", "mean"),
    ("video_share", "ecosystem", "ratio"),
    ("live_share", "ecosystem", "ratio"),
]
_SEGMENTS = {
    "content_type": ["product", "video", "live"],
    "country": ["ID", "TH", "VN", "MY", "PH", "SG", "US", "GB"],
    "platform": ["android", "ios", "web"],
    "user_type": ["new", "returning"],
}
_SIZES = {"quick": (1_000_000, 14, 1), "full": (10_000_000, 28, 4)}  # users, days, dims used


def _effect(rng: np.random.Generator, n: int) -> dict[str, float]:
    base = float(rng.uniform(0.01, 50))
    se = base * 3 / np.sqrt(n)
    eff = float(rng.normal(0, se))
    return {
        "control_value": base,
        "treatment_value": base + eff,
        "abs_effect": eff,
        "abs_ci_lower": eff - 1.96 * se,
        "abs_ci_upper": eff + 1.96 * se,
        "rel_effect": eff / base,
        "rel_ci_lower": (eff - 1.96 * se) / base,
        "rel_ci_upper": (eff + 1.96 * se) / base,
        "pvalue": float(rng.uniform()),
        "adjusted_pvalue": float(rng.uniform()),
        "variance_reduction": float(rng.uniform(0, 0.4)),
        "cs_lower": eff - 3 * se,
        "cs_upper": eff + 3 * se,
    }


def synthesize(users: int, days: int, dims: int, seed: int = 0) -> dict[str, object]:
    """A Scorecard dict (valid ``analysis.Scorecard`` JSON) of a ``users``-user 3-arm experiment."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 8, tzinfo=UTC)
    arms = ["control", "ranker_v2", "ranker_v3"]
    n = users // 3
    rows, segments, daily = [], [], []
    for metric, role, kind in _METRICS:
        for arm in arms[1:]:
            common = {
                "metric": metric,
                "role": role,
                "kind": kind,
                "variant": arm,
                "status": "ok",
                "n_control": n,
                "n_treatment": n,
                "test": "welch",
                "cuped": True,
            }
            rows.append({**common, **_effect(rng, n)})
            for dim in list(_SEGMENTS)[:dims]:
                for seg in _SEGMENTS[dim]:
                    segments.append(
                        {
                            **common,
                            **_effect(rng, n // len(_SEGMENTS[dim])),
                            "dimension": dim,
                            "segment": seg,
                        }
                    )
            for d in range(days):
                e = _effect(rng, n * (d + 1) // days)
                daily.append(
                    {
                        "metric": metric,
                        "variant": arm,
                        "status": "ok",
                        "day": (start + timedelta(days=d)).date().isoformat(),
                        "n_control": n * (d + 1) // days,
                        "n_treatment": n * (d + 1) // days,
                        **{
                            k: e[k]
                            for k in (
                                "abs_effect",
                                "abs_ci_lower",
                                "abs_ci_upper",
                                "cs_lower",
                                "cs_upper",
                                "pvalue",
                            )
                        },
                    }
                )
    iso = start.isoformat()
    return {
        "experiment": "rank_ranker_v2",
        "layer": "rank",
        "control": "control",
        "variants": [{"key": a, "weight": 1 / 3, "units": n} for a in arms],
        "start": iso,
        "end": (start + timedelta(days=days)).isoformat(),
        "as_of": (start + timedelta(days=days)).isoformat(),
        "window_end": (start + timedelta(days=days)).isoformat(),
        "pre_period_start": (start - timedelta(days=14)).isoformat(),
        "generated_at": datetime.now(UTC).isoformat(),
        "alpha": 0.05,
        "cuped": True,
        "primary_metric": "ctr",
        "trustworthy": True,
        "warnings": [],
        "srm": {
            "chi2": 1.2,
            "pvalue": 0.55,
            "threshold": 0.001,
            "mismatch": False,
            "observed": {a: n for a in arms},
            "expected": {a: n for a in arms},
            "multi_variant_units": 0,
        },
        "sequential": {"alpha": 0.05, "tuning_n": users, "rho": 0.001},
        "rows": rows,
        "segment_dimension": "all" if dims > 1 else list(_SEGMENTS)[0],
        "segments": segments,
        "daily": daily,
    }


def _page_frames(card: object) -> int:
    from shoplab.dashboards import views

    directions = {m: m != "refund_rate" for m, _, _ in _METRICS}
    table = views.metric_table(card, directions)
    views.forest_rows(table)
    views.sequential_rows(card)
    n = len(table) + len(views.segment_table(card, directions))
    for metric, _, _ in _METRICS:
        for arm in ("ranker_v2", "ranker_v3"):
            n += len(views.daily_rows(card, metric, arm, interval="sequential"))
    return n


def _case(name: str, size: str) -> tuple[float, int]:
    users, days, dims = _SIZES[size]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SHOPLAB_DATA"] = tmp
        from shoplab import analysis

        path = analysis.save_scorecard(
            analysis.Scorecard.model_validate(synthesize(users, days, dims))
        )
        nbytes = path.stat().st_size
        if name == "json_parse":
            t = time_median(lambda: json.loads(path.read_text()))
        elif name == "load_scorecard":
            t = time_median(lambda: analysis.load_scorecard("rank_ranker_v2"))
        else:
            t = time_median(lambda: _page_frames(analysis.load_scorecard("rank_ranker_v2")))
    return t, nbytes


def run(quick: bool) -> list[Result]:
    """Time the three cases at the quick (1M users, 14 days) or full (10M, 28 days) size."""
    size = "quick" if quick else "full"
    users, days, _ = _SIZES[size]
    out: dict[str, dict[str, float]] = {}
    for case in ("json_parse", "load_scorecard", "page_frames"):
        out[case] = run_in_subprocess("shoplab.benchmarks.dashboard", case, size, timeout=600)
    base = out["json_parse"]["median_s"]
    results = []
    for case, rep in out.items():
        results.append(
            Result(
                benchmark="dashboard",
                case=f"{case} ({users / 1e6:.0f}M users, {days} days)",
                median_s=rep["median_s"],
                peak_mib=rep["peak_mib"],
                baseline="json_parse",
                ratio=rep["median_s"] / base,
                note=f"{rep['bytes'] / 1e6:.2f} MB JSON"
                + ("; goal < 1 s" if case == "page_frames" else ""),
            )
        )
    return results


if __name__ == "__main__":
    case_name, size_name = sys.argv[1], sys.argv[2]
    median, size_bytes = _case(case_name, size_name)
    child_report(median_s=median, bytes=size_bytes)
