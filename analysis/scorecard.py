"""The Scorecard: what an analysis returns, stores as JSON and the dashboard reads.

snake_case fields, floats or ``None`` (never NaN: a value that cannot be computed is ``None`` and
the row's ``status`` says why). ``Scorecard.model_json_schema()`` is the exported schema
(``scorecard_schema()``). Scorecards are cached under ``shoplab.core.paths.scorecards_dir()`` as
``<experiment>.json``; loading one is a JSON parse of a few hundred rows, independent of how many
units the experiment had.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shoplab.core import paths
from shoplab.core.atomic import atomic_write_text
from shoplab.core.errors import NotFoundError
from shoplab.events.manifest import LogCheck

__all__ = [
    "STATUSES",
    "DailyPoint",
    "Decision",
    "DecisionInfo",
    "MetricRow",
    "RowNotFoundError",
    "RowStatus",
    "Scorecard",
    "ScorecardNotFoundError",
    "SegmentRow",
    "SequentialInfo",
    "SrmInfo",
    "TriggeredRow",
    "VariantInfo",
    "load_scorecard",
    "save_scorecard",
    "scorecard_path",
    "scorecard_schema",
]

RowStatus = Literal[
    "ok",
    "no_data",
    "too_few_units",
    "zero_denominator",
    "zero_variance",
    "zero_baseline",
    "error",
]
ScorecardStatus = Literal["ok", "unvalidated_log", "draft", "no_exposures", "srm_mismatch"]
"""Whether a whole scorecard can be trusted (see :class:`Scorecard`)."""
STATUSES: tuple[str, ...] = RowStatus.__args__  # type: ignore[attr-defined]
"""Row statuses:

- ok: everything computed.
- no_data: a variant has no units (or no exposures at all).
- too_few_units: a variant has fewer than 2 units; no variance.
- zero_denominator: a ratio metric's denominator sums to 0 in a variant (e.g. CVR with no clicks).
- zero_variance: the effect's standard error is 0 (a constant metric); no test.
- zero_baseline: the control value is 0, so the relative effect is undefined; absolute effect
  and its test are still reported.
- error: an unexpected failure for this metric only; ``detail`` holds the message.
"""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nan(cls, v: Any) -> Any:
        # A NaN in JSON is not portable and hides why a value is missing: make it None.
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v


Decision = Literal["ship", "don't ship", "keep running", "stop for harm"]


class DecisionInfo(_Model):
    """The decision of one experiment as of its scorecard, and every reason behind it.

    ``analysis.decision`` states the rule; ``horizon`` says which interval was read
    (always-valid before the planned end, fixed-horizon at or after it).
    """

    decision: Decision
    horizon: Literal["always-valid", "fixed-horizon"]
    reasons: list[str]


class VariantInfo(_Model):
    """A variant as configured, with its observed unit count."""

    key: str
    weight: float
    units: int


class SrmInfo(_Model):
    """Sample-ratio-mismatch χ² test against the configured weights."""

    chi2: float | None
    pvalue: float
    threshold: float
    mismatch: bool
    observed: dict[str, int]
    expected: dict[str, float]
    multi_variant_units: int = Field(description="units exposed to two or more variants; excluded")


class SequentialInfo(_Model):
    """How the always-valid intervals (``cs_lower`` / ``cs_upper``) were computed."""

    method: str = "asymptotic confidence sequence (Waudby-Smith et al. 2024), normal mixture"
    alpha: float
    tuning_n: int
    rho: float


class MetricRow(_Model):
    """One metric × treatment variant."""

    metric: str
    role: str
    kind: str
    variant: str
    status: RowStatus
    detail: str = ""
    n_control: int
    n_treatment: int
    control_value: float | None = None
    treatment_value: float | None = None
    abs_effect: float | None = None
    abs_ci_lower: float | None = None
    abs_ci_upper: float | None = None
    rel_effect: float | None = None
    rel_ci_lower: float | None = None
    rel_ci_upper: float | None = None
    pvalue: float | None = None
    adjusted_pvalue: float | None = Field(
        None, description="Holm across primary+secondary metrics; BH across segments in segments"
    )
    test: str = ""
    cuped: bool = False
    variance_reduction: float | None = None
    cs_lower: float | None = None
    cs_upper: float | None = None
    chance_to_win: float | None = Field(
        default=None,
        description="P(treatment better than control), direction-aware (analysis.bayes)",
    )
    expected_loss: float | None = Field(
        default=None,
        description="E[loss if the treatment ships and is worse], in the metric's units",
    )
    cred_lower: float | None = Field(default=None, description="credible interval lower bound")
    cred_upper: float | None = Field(default=None, description="credible interval upper bound")
    winsorize_cap: float | None = Field(
        None, description="upper winsorization bound of the per-unit value (None: not winsorized)"
    )
    winsorize_lower: float | None = Field(
        None,
        description="lower winsorization bound, set when the cap is two-sided (the pre-period's "
        "1 − q quantile is negative: refund-heavy units); None: no lower bound",
    )


class SegmentRow(MetricRow):
    """A MetricRow within one segment of a breakdown."""

    dimension: str
    segment: str


class DailyPoint(_Model):
    """Cumulative effect up to the end of ``day`` with its fixed-horizon and always-valid CIs."""

    metric: str
    variant: str
    day: date
    status: RowStatus
    n_control: int
    n_treatment: int
    abs_effect: float | None = None
    abs_ci_lower: float | None = None
    abs_ci_upper: float | None = None
    cs_lower: float | None = None
    cs_upper: float | None = None
    pvalue: float | None = None


class InteractionRow(_Model):
    """One cross-layer check against a concurrent experiment (see ``analysis.interactions``).

    ``dependent``: the two layers' assignments fail the χ² independence test (p < 0.001).
    ``interaction``: difference in differences of the 2×2 cells on this experiment's primary
    metric, for one pair of treatment variants; ``flagged`` when its Holm-adjusted p < alpha.
    """

    other_experiment: str
    other_layer: str
    units_both: int
    independence_pvalue: float | None
    dependent: bool
    metric: str
    variant: str
    other_variant: str
    status: str
    interaction: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    pvalue: float | None = None
    adjusted_pvalue: float | None = None
    flagged: bool = False


class TriggeredRow(_Model):
    """One metric × treatment of the triggered analysis (``analyze(..., triggered=True)``).

    ``triggered_*``: the effect among triggered units, counted from their first triggered request;
    ``diluted_*``: Deng & Hu's dilution of it to the whole population (``dilution``: the pooled
    trigger rate for mean and proportion metrics, the triggered share of the denominator for
    ratio metrics; ``analysis.triggered_rows``); ``untriggered_*``: the same metric on all units
    (the same per-unit values, no CUPED); ``width_ratio``: diluted interval width over the
    untriggered one (< 1: the variance reduction of triggering).
    """

    metric: str
    kind: str
    variant: str
    status: RowStatus
    detail: str = ""
    units: int
    triggered_units: int
    trigger_rate: float | None = None
    dilution: float | None = None
    control_value: float | None = Field(None, description="control, triggered units")
    treatment_value: float | None = Field(None, description="treatment, triggered units")
    triggered_effect: float | None = None
    triggered_se: float | None = None
    triggered_ci_lower: float | None = None
    triggered_ci_upper: float | None = None
    pvalue: float | None = Field(None, description="two-sided z test of the triggered effect")
    diluted_effect: float | None = None
    diluted_se: float | None = None
    diluted_ci_lower: float | None = None
    diluted_ci_upper: float | None = None
    untriggered_effect: float | None = None
    untriggered_se: float | None = None
    untriggered_ci_lower: float | None = None
    untriggered_ci_upper: float | None = None
    width_ratio: float | None = None


class Scorecard(_Model):
    """The analysis of one experiment as of one instant.

    ``status`` says whether the scorecard can be trusted, first cause first: ``ok``,
    ``unvalidated_log`` (forced over an event log never validated or changed since validation;
    ``event_log`` says what differs), ``draft`` (the experiment assigns nobody),
    ``no_exposures`` (nothing to analyze: every row is no_data),
    ``srm_mismatch`` (the SRM test fails, p < 0.001). ``trustworthy`` is ``status == "ok"``; every
    renderer prints the warning above the table and ``shoplab analyze`` exits 3 otherwise.
    """

    experiment: str
    layer: str
    control: str
    variants: list[VariantInfo]
    start: datetime
    end: datetime
    as_of: datetime
    window_end: datetime
    pre_period_start: datetime
    generated_at: datetime
    alpha: float
    cuped: bool
    primary_metric: str
    status: ScorecardStatus = "ok"
    trustworthy: bool
    warnings: list[str]
    bayes_prior: str = Field(
        default="flat",
        description="prior of the Bayesian read-outs (chance_to_win, expected_loss, cred_*): "
        "flat = improper uniform on the absolute effect (analysis.bayes)",
    )
    event_log: LogCheck | None = None
    decision: DecisionInfo | None = None
    """Which version of the event log this scorecard read (``shoplab.events.manifest``): status
    ``validated`` unless forced over a log never validated or changed since."""
    srm: SrmInfo
    sequential: SequentialInfo
    rows: list[MetricRow]
    segment_dimension: str | None = None
    segments: list[SegmentRow] = []
    daily: list[DailyPoint] = []
    interactions: list[InteractionRow] = []
    triggered: list[TriggeredRow] = Field(
        default=[], description="the triggered analysis (empty unless asked: triggered=True)"
    )

    def row(self, metric: str, variant: str | None = None) -> MetricRow:
        """The row of ``metric`` (for ``variant``, default the first treatment).

        Raises:
            RowNotFoundError: no such row (a ``KeyError``).
        """
        for r in self.rows:
            if r.metric == metric and (variant is None or r.variant == variant):
                return r
        raise RowNotFoundError(
            f"metric == {metric!r}, variant == {variant!r}: not in this scorecard."
        )


class RowNotFoundError(NotFoundError, KeyError):
    """No row for a metric (and variant) in a scorecard (``KeyError`` kept for callers)."""


class ScorecardNotFoundError(NotFoundError, FileNotFoundError):
    """No cached scorecard for an experiment (``FileNotFoundError`` kept for callers)."""


def scorecard_schema() -> dict[str, Any]:
    """JSON schema of :class:`Scorecard` (what the dashboard and other tools code against)."""
    return Scorecard.model_json_schema()


def scorecard_path(experiment: str) -> Path:
    """``<scorecards_dir>/<experiment>.json``."""
    return paths.scorecards_dir() / f"{experiment}.json"


def save_scorecard(card: Scorecard) -> Path:
    """Write ``card`` as JSON (atomically: a reader never sees half a file)."""
    path = scorecard_path(card.experiment)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, card.model_dump_json(indent=1))
    return path


def load_scorecard(experiment: str) -> Scorecard:
    """Load the cached scorecard of ``experiment``.

    Raises:
        ScorecardNotFoundError: none cached (run ``shoplab analyze EXPERIMENT`` first).
    """
    path = scorecard_path(experiment)
    if not path.is_file():
        raise ScorecardNotFoundError(
            f"no scorecard for experiment == {experiment!r} at {path}; "
            f"run `shoplab analyze {experiment}` first."
        )
    return Scorecard.model_validate(json.loads(path.read_text()))
