"""Altair charts of the dashboard, each from a tidy frame built by :mod:`dashboards.views`.

Charts take plain frames with fixed column names, so they do not depend on the shape of the
Scorecard or of an experiment config, and the colours mean the same thing on every page:
green = significant improvement, red = significant harm, grey = not significant.
"""

from __future__ import annotations

from typing import Final

import altair as alt
import pandas as pd

__all__ = [
    "STATUS_COLORS",
    "bucket_map",
    "calibration_plot",
    "distribution",
    "forest_plot",
    "mde_curves",
    "trend_band",
]

STATUS_COLORS: Final[dict[str, str]] = {
    "improvement": "#1a7f37",
    "regression": "#cf222e",
    "not significant": "#6e7781",
    "not computed": "#bf8700",
}
"""Verdict → colour, shared by the table highlighting and every chart."""

_SCALE: Final = alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values()))


def forest_plot(rows: pd.DataFrame) -> alt.LayerChart:
    """Relative effect of each metric with its confidence interval, zero marked.

    Args:
        rows: one row per metric: ``metric``, ``rel_effect``, ``rel_ci_lower``, ``rel_ci_upper``,
            ``verdict`` (a key of :data:`STATUS_COLORS`).
    """
    base = alt.Chart(rows).encode(
        y=alt.Y("metric:N", sort=None, title=None),
        color=alt.Color(
            "verdict:N", scale=_SCALE, legend=alt.Legend(title="verdict", orient="bottom")
        ),
        tooltip=[
            "metric",
            alt.Tooltip("rel_effect:Q", format="+.2%"),
            alt.Tooltip("rel_ci_lower:Q", format="+.2%"),
            alt.Tooltip("rel_ci_upper:Q", format="+.2%"),
            "verdict",
        ],
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(
            "rel_ci_lower:Q",
            title="relative effect (treatment / control − 1)",
            axis=alt.Axis(format="+%"),
        ),
        x2="rel_ci_upper:Q",
    )
    points = base.mark_point(filled=True, size=70).encode(x="rel_effect:Q")
    zero = (
        alt.Chart(pd.DataFrame({"x": [0.0]}))
        .mark_rule(strokeDash=[4, 4], color="#444")
        .encode(x="x:Q")
    )
    # a discrete y axis needs a step height: a fixed pixel height collapses the bands in Streamlit
    chart: alt.LayerChart = (zero + bars + points).properties(height=alt.Step(30))
    return chart


def trend_band(rows: pd.DataFrame, *, relative: bool) -> alt.LayerChart:
    """Cumulative effect per day with its confidence band, zero marked.

    Args:
        rows: one row per day: ``day`` (date), ``effect``, ``ci_lower``, ``ci_upper``.
        relative: format the axis as a percentage.
    """
    fmt = "+%" if relative else "~s"
    base = alt.Chart(rows).encode(x=alt.X("day:T", title="day (cumulative to end of day)"))
    band = base.mark_area(opacity=0.25, color="#0969da").encode(
        y=alt.Y("ci_lower:Q", title="cumulative effect", axis=alt.Axis(format=fmt)), y2="ci_upper:Q"
    )
    line = base.mark_line(point=True, color="#0969da").encode(
        y="effect:Q",
        tooltip=[
            alt.Tooltip("day:T"),
            alt.Tooltip("effect:Q", format=".4g"),
            alt.Tooltip("ci_lower:Q", format=".4g"),
            alt.Tooltip("ci_upper:Q", format=".4g"),
        ],
    )
    zero = (
        alt.Chart(pd.DataFrame({"y": [0.0]}))
        .mark_rule(strokeDash=[4, 4], color="#444")
        .encode(y="y:Q")
    )
    chart: alt.LayerChart = (band + zero + line).properties(height=260)
    return chart


def bucket_map(rows: pd.DataFrame) -> alt.Chart:
    """One horizontal bar per layer over buckets [0, 10000): who owns which range.

    Args:
        rows: one row per range: ``layer``, ``owner`` (experiment key, ``holdout`` or ``free``),
            ``start``, ``end`` (bucket bounds, end exclusive), ``kind`` (experiment/holdout/free).
    """
    chart: alt.Chart = (
        alt.Chart(rows)
        .mark_bar(stroke="white", strokeWidth=1)
        .encode(
            y=alt.Y("layer:N", title=None, sort=None),  # serving order, as layers.yaml lists them
            x=alt.X("start:Q", title="bucket", scale=alt.Scale(domain=[0, 10_000])),
            x2="end:Q",
            color=alt.condition(
                "datum.kind == 'free'",
                alt.value("#eaeef2"),
                alt.Color(
                    "owner:N",
                    title="experiment",
                    scale=alt.Scale(
                        scheme="tableau20",
                        domain=sorted(set(rows.loc[rows["kind"] != "free", "owner"])),
                    ),
                    legend=alt.Legend(orient="bottom", columns=3),
                ),
            ),
            tooltip=["layer", "owner", "kind", "start", "end"],
        )
        .properties(height=alt.Step(36))  # one 36 px band per layer
    )
    return chart


def mde_curves(rows: pd.DataFrame) -> alt.Chart:
    """Minimum detectable relative effect against days, one line per traffic share.

    Args:
        rows: ``days``, ``traffic_share``, ``mde`` (relative, e.g. 0.02 = 2 %).
    """
    chart: alt.Chart = (
        alt.Chart(rows)
        .mark_line(point=True)
        .encode(
            x=alt.X("days:Q", title="days running"),
            y=alt.Y(
                "mde:Q",
                title="MDE (relative)",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(type="log"),
            ),
            color=alt.Color(
                "traffic_share:O", title="traffic share", legend=alt.Legend(format=".0%")
            ),
            tooltip=[
                "days",
                alt.Tooltip("traffic_share:Q", format=".0%"),
                alt.Tooltip("mde:Q", format=".2%"),
            ],
        )
        .properties(height=300)
    )
    return chart


def distribution(values: pd.DataFrame, column: str) -> alt.Chart:
    """Histogram of one feature column (nulls excluded; the null rate is shown beside it)."""
    chart: alt.Chart = (
        alt.Chart(values.dropna(subset=[column]))
        .mark_bar()
        .encode(
            x=alt.X(f"{column}:Q", bin=alt.Bin(maxbins=40), title=column),
            y=alt.Y("count():Q", title="rows"),
        )
        .properties(height=180)
    )
    return chart


def calibration_plot(bins: pd.DataFrame) -> alt.LayerChart:
    """Observed vs predicted rate per equal-count bin, with the diagonal a calibrated model sits on.

    Args:
        bins: ``bin``, ``n``, ``predicted``, ``observed`` (``shoplab.models.report.calibration``).
    """
    top = float(max(bins["predicted"].max(), bins["observed"].max(), 1e-6)) * 1.05
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0.0, top], "y": [0.0, top]}))
        .mark_line(strokeDash=[4, 4], color="#6e7781")
        .encode(x="x:Q", y="y:Q")
    )
    points = (
        alt.Chart(bins)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "predicted:Q", title="mean predicted P(click)", scale=alt.Scale(domain=[0, top])
            ),
            y=alt.Y("observed:Q", title="observed rate", scale=alt.Scale(domain=[0, top])),
            tooltip=["bin", "n", alt.Tooltip("predicted:Q", format=".4f"),
                     alt.Tooltip("observed:Q", format=".4f")],
        )
    )
    chart: alt.LayerChart = (diagonal + points).properties(height=260)
    return chart
