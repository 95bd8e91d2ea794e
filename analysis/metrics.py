"""The metric catalog: what each scorecard metric means, declared as data.

A metric is a function of one row per unit (user). The unit-level SQL (``analysis.units``) produces
a fixed set of per-unit columns (:data:`UNIT_COLUMNS`: impressions, clicks, orders, net GMV, ...);
a metric only names which of them form its numerator and denominator and how to treat them:

- ``mean``: the per-unit mean of ``numerator`` (``gmv_per_user``, ``orders_per_user``);
- ``proportion``: the share of units with ``numerator > 0`` (``buyer_rate``);
- ``ratio``: Σ numerator / Σ denominator over units (``ctr`` = clicks / impressions). The user is
  the randomization unit, so impressions of one user are correlated and the variance comes from the
  delta method on per-user sums, never from a per-impression binomial.
- ``concentration``: the Herfindahl–Hirschman index of ``numerator`` (net GMV) across shops per
  arm (``seller_hhi``), not a per-unit metric: its interval comes from a Poisson bootstrap over
  users (``analysis.concentration``). Not in segments, the daily series, power or the audit.

Built-in metrics live in ``analysis/metrics.yaml``; users add their own in YAML files listed in
``$SHOPLAB_METRICS`` (``os.pathsep``-separated), same format::

    metrics:
      - name: clicks_per_user
        kind: mean
        numerator: clicks
        description: Clicks per exposed user.

GMV is net of refunds: the GMV of a refunded order is subtracted (``gmv`` = Σ gmv of orders − Σ gmv
of refunded orders in the window), so per-unit GMV is ≥ 0. Refunds are a flag on the order, not
negative-GMV rows: validation quarantines an order with negative or NaN gmv (``shoplab.events
.rules``), so no unit column can be negative, which is what :attr:`Metric.nonnegative` states
(the relative interval of a non-negative metric is clipped at −100 %).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shoplab.core.errors import ConfigError, NotFoundError

__all__ = [
    "UNIT_COLUMNS",
    "Metric",
    "MetricCatalog",
    "MetricKind",
    "MetricRole",
    "UnknownMetricError",
    "get_metric",
    "load_metric_catalog",
    "metric_names",
]

MetricKind = Literal["mean", "proportion", "ratio", "concentration"]
MetricRole = Literal["business", "guardrail", "ecosystem"]

UNIT_COLUMNS: Final[tuple[str, ...]] = (
    "requests",
    "impressions",
    "clicks",
    "orders",
    "gmv",
    "gmv_gross",
    "refunded_orders",
    "new_item_impressions",
    "impressions_top10",
    "clicks_top10",
    "orders_top10",
    "position_weighted_clicks",
    "product_impressions_top10",
    "video_impressions_top10",
    "live_impressions_top10",
)
"""Per-unit columns the unit-level SQL produces; metrics are built from these only.

``new_item_impressions`` counts impressions of items created less than 7 days before the
impression (the ecosystem team's definition of a "new" item).

Position-aware columns (``analysis.unit_query.TOP_K`` = 10 slots, 0-based ``position``):
``impressions_top10``, ``clicks_top10`` and ``orders_top10`` count what happened in the first 10
slots (a click or an order takes the slot of its impression); ``position_weighted_clicks`` sums
``1 / log2(position + 2)`` over clicks (DCG's discount: a click in slot 0 counts 1, in slot 9
0.29); ``<content type>_impressions_top10`` count the top slots that showed a product, a video
or a live stream.
"""

_BUILTIN_YAML: Final = Path(__file__).with_name("metrics.yaml")
_ENV_VAR: Final = "SHOPLAB_METRICS"


class UnknownMetricError(NotFoundError, KeyError):
    """A metric name that is not in the catalog (``KeyError`` kept for callers)."""

    def __str__(self) -> str:
        """The message as written (``KeyError`` would quote it)."""
        return str(self.args[0]) if self.args else ""


class Metric(BaseModel):
    """One metric definition.

    Attributes:
        name: snake_case identifier used in experiment configs and scorecards.
        kind: ``mean``, ``proportion`` or ``ratio`` (see the module docstring).
        numerator: per-unit column (one of :data:`UNIT_COLUMNS`).
        denominator: per-unit column for ``ratio`` metrics; must be unset otherwise.
        winsorize_quantile: cap the per-unit numerator at this quantile of the pre-period
            distribution (``mean`` metrics only). Caps come from pre-period data so that the
            treatment cannot move its own cap.
        role: ``business``, ``guardrail`` or ``ecosystem`` (display grouping only).
        higher_is_better: direction, for colouring a significant change.
        non_inferiority_margin: as a guardrail, the harm tolerated relative to the control value
            (default 5 %): the ship decision needs the harm interval's upper end within it
            (``analysis.decision``).
        description: one line for the scorecard and the dashboard.

    Example:
        >>> Metric(name="clicks_per_user", kind="mean", numerator="clicks").kind
        'mean'
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    kind: MetricKind
    numerator: Literal[UNIT_COLUMNS]  # type: ignore[valid-type]
    denominator: Literal[UNIT_COLUMNS] | None = None  # type: ignore[valid-type]
    winsorize_quantile: float | None = Field(default=None, gt=0.5, lt=1.0)
    role: MetricRole = "business"
    higher_is_better: bool = True
    non_inferiority_margin: float = Field(default=0.05, gt=0.0, lt=1.0)
    description: str = ""

    @property
    def nonnegative(self) -> bool:
        """Whether the metric cannot be negative: its relative effect is then at least −100 %.

        Always true for the catalog's metrics: every unit column is a sum of non-negative event
        values (counts, and GMV, whose negative rows validation quarantines), so a mean, a ratio
        or a proportion of them is non-negative too.
        """
        return True

    @model_validator(mode="after")
    def _check_shape(self) -> Metric:
        if self.kind == "ratio" and self.denominator is None:
            # a ValueError (ConfigError is one): pydantic wraps it in the ValidationError
            raise ConfigError(f"metric {self.name}: kind == 'ratio' needs a denominator.")
        if self.kind != "ratio" and self.denominator is not None:
            raise ConfigError(
                f"metric {self.name}: denominator == {self.denominator!r}, "
                f"must be unset for kind == {self.kind!r}."
            )
        if self.winsorize_quantile is not None and self.kind != "mean":
            raise ConfigError(
                f"metric {self.name}: winsorize_quantile is only allowed for kind == 'mean', "
                f"got kind == {self.kind!r}."
            )
        return self


class MetricCatalog(BaseModel):
    """A YAML metric file: ``metrics: [ ... ]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: tuple[Metric, ...]


def _read(path: Path) -> tuple[Metric, ...]:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"metric file {path}: cannot be read ({exc}).") from exc
    try:
        return MetricCatalog.model_validate(raw).metrics
    except ValidationError as exc:
        raise ConfigError(f"metric file {path} is invalid:\n{exc}") from exc


def _env_paths() -> tuple[Path, ...]:
    value = os.environ.get(_ENV_VAR, "")
    return tuple(Path(p).expanduser() for p in value.split(os.pathsep) if p)


@lru_cache(maxsize=16)
def _load(paths: tuple[Path, ...]) -> dict[str, Metric]:
    catalog: dict[str, Metric] = {}
    for path in (_BUILTIN_YAML, *paths):
        for metric in _read(path):
            if metric.name in catalog and path != _BUILTIN_YAML:
                raise ConfigError(
                    f"metric file {path}: metric {metric.name!r} is already defined; "
                    "names must be unique across the catalog."
                )
            catalog[metric.name] = metric
    return catalog


def load_metric_catalog(extra: Iterable[Path | str] = ()) -> dict[str, Metric]:
    """Return every metric: built-ins, then ``$SHOPLAB_METRICS`` files, then ``extra`` files.

    Args:
        extra: more YAML files to read (``metrics: [...]``).

    Raises:
        ConfigError: a file is unreadable, invalid, or redefines an existing metric (a
            ``ValueError``).
    """
    paths = (*_env_paths(), *(Path(p) for p in extra))
    return dict(_load(paths))


def metric_names() -> frozenset[str]:
    """Names of every metric in the catalog (built-ins plus ``$SHOPLAB_METRICS``).

    Example:
        >>> {"ctr", "cvr", "gmv_per_user"} <= metric_names()
        True
    """
    return frozenset(load_metric_catalog())


def get_metric(name: str, catalog: dict[str, Metric] | None = None) -> Metric:
    """Return the metric ``name``.

    Raises:
        UnknownMetricError: ``name`` is not in the catalog (the message lists the known names).
    """
    cat = catalog if catalog is not None else load_metric_catalog()
    try:
        return cat[name]
    except KeyError:
        raise UnknownMetricError(
            f"metric == {name!r}, must be one of: {', '.join(sorted(cat))}."
        ) from None
