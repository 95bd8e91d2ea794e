"""Config models: what an experiment YAML file and ``layers.yaml`` may say.

Strict pydantic (``extra="forbid"``, no type coercion) so that a typo in a key or a quoted number
fails at load with the field and value named, instead of silently meaning something else. Rules
that need the whole set of files (overlapping ranges, unknown layer or metric, the lock of running
experiments) live in :mod:`experiments.validation`; rules about one file live here.

An experiment file::

    key: rank_ranker_v2
    layer: rank
    traffic: 0.5                 # or buckets: [0, 5000]  ([start, end) out of 10,000)
    variants:
      - {key: control, weight: 0.5, params: {feature_service: ranker_v1}}
      - {key: ranker_v2, weight: 0.5, params: {feature_service: ranker_v2, rank_w_quality: 1.4}}
    status: running
    start: 2026-01-08T00:00:00Z
    end: 2026-01-22T00:00:00Z
    metrics: {primary: ctr, secondary: [cvr], guardrails: [refund_rate]}
    owner: ranking-team
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shoplab.core.errors import InputError
from shoplab.core.timeparse import parse_instant
from shoplab.experiments.hashing import BUCKETS

__all__ = [
    "HOLDOUT_IN_EXPERIMENTS",
    "HOLDOUT_VARIANT",
    "INTERLEAVED_VARIANT",
    "Experiment",
    "Holdout",
    "Layer",
    "LayerSet",
    "Metrics",
    "ParamValue",
    "Targeting",
    "Trigger",
    "Variant",
    "cross_field_problems",
]

ParamValue = float | str | int
WEIGHT_TOLERANCE = 1e-6
"""Weights must sum to 1 within this: GrowthBook SDKs silently fall back to equal weights outside
[0.99, 1.01], so a loose sum would mean different splits on different clients."""

HOLDOUT_VARIANT = "holdout"
INTERLEAVED_VARIANT = "interleaved"
"""The exposure variant of every unit of an interleaving experiment: it has no arms."""
HOLDOUT_IN_EXPERIMENTS = "in_experiments"

_KEY = r"^[a-z][a-z0-9_]*$"
Key = Annotated[str, Field(pattern=_KEY, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# Field-level messages carry only the rule: pydantic's error already names the field and the
# input value, and validation reports them as "file: field == value: rule".
def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError("must be timezone-aware UTC (end in Z).")
    return value


class Variant(_Strict):
    """One arm. The first variant of an experiment is its control.

    Attributes:
        key: variant name, unique within the experiment (what exposures log).
        weight: share of the experiment's units, in [0, 1]; weights sum to 1.
        params: parameters the serving stack reads (e.g. ``feature_service``, ``rank_w_quality``,
            ``mix_video_share``); the simulator applies those named in its ``BASELINE``.
    """

    key: Key
    weight: Annotated[float, Field(ge=0.0, le=1.0)]
    params: dict[str, ParamValue] = Field(default_factory=dict)


class Targeting(_Strict):
    """Who is eligible.

    An empty list means everyone; a unit missing a targeted attribute is not eligible (fail
    closed: an experiment never reaches users it did not ask for).

    Attributes:
        countries: allowed ``country`` values (schema.COUNTRIES codes).
        platforms: allowed ``platform`` values (android / ios / web).
        user_type: ``new`` (``is_new_user`` true), ``returning`` (false) or ``all``.
        attributes: custom attribute name -> allowed values (exact match).
    """

    countries: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    user_type: Literal["new", "returning", "all"] = "all"
    attributes: dict[str, list[str | int | bool]] = Field(default_factory=dict)

    @property
    def is_everyone(self) -> bool:
        """True when nothing restricts eligibility."""
        return not (self.countries or self.platforms or self.attributes) and (
            self.user_type == "all"
        )


class Metrics(_Strict):
    """What the experiment is judged on: names from the analysis metric catalog."""

    primary: str
    secondary: list[str] = Field(default_factory=list)
    guardrails: list[str] = Field(default_factory=list)

    def names(self) -> list[tuple[str, str]]:
        """(field, metric name) pairs, for validation messages."""
        out = [("metrics.primary", self.primary)]
        out += [(f"metrics.secondary[{i}]", m) for i, m in enumerate(self.secondary)]
        out += [(f"metrics.guardrails[{i}]", m) for i, m in enumerate(self.guardrails)]
        return out


class Trigger(_Strict):
    """Counterfactual logging for a triggered analysis (Deng & Hu 2015).

    For every request of the experiment's units, serving also computes what each other arm
    would have shown at the experiment's stage over the same candidates, and logs in the
    ``triggers`` table whether a list differs from the served one within the first ``k`` slots.
    Most of a ranking treatment's units see the control's list; restricting the analysis to the
    triggered ones removes their noise.

    Attributes:
        k: slots compared (the top of the list, where a change can move clicks).
    """

    k: Annotated[int, Field(ge=1)] = 10


class Experiment(_Strict):
    """One experiment: where it lives (layer and bucket range), its arms, who and when.

    Exactly one of ``buckets`` and ``traffic``: ``buckets`` pins an explicit [start, end) range of
    the layer's 10,000 buckets; ``traffic`` asks for ``traffic * 10000`` buckets, allocated as a
    range in the layer's free space (see :mod:`experiments.allocation`). Ramping up = widening the
    range's end: units already in keep their variant, because the variant is chosen by a second
    hash (``salt``) over GrowthBook weight ranges that do not depend on the range.
    """

    key: Key
    layer: Key
    type: Literal["ab", "interleaving"] = "ab"
    """``ab``: units split into arms. ``interleaving``: two rank variants, every unit sees their
    team-draft interleaving (:mod:`experiments.interleaving`); exposures log the variant
    :data:`INTERLEAVED_VARIANT`."""
    buckets: Annotated[list[int], Field(min_length=2, max_length=2)] | None = None
    traffic: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    variants: Annotated[list[Variant], Field(min_length=2)]
    targeting: Targeting = Field(default_factory=Targeting)
    allowlist: dict[int, str] = Field(default_factory=dict)
    status: Literal["draft", "running", "stopped"]
    start: Annotated[datetime, Field(strict=False)]
    end: Annotated[datetime, Field(strict=False)]
    hash_version: Literal[1, 2] = 2
    salt: str | None = None
    metrics: Metrics
    trigger: Trigger | None = None
    """Log per request whether the other arm(s) would have shown another list (``ab`` only)."""
    description: str = ""
    owner: str

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _require_utc(value)

    @field_validator("buckets")
    @classmethod
    def _range(cls, value: list[int] | None) -> list[int] | None:
        if value is not None:
            lo, hi = value
            if not 0 <= lo < hi <= BUCKETS:
                raise ValueError(f"must be [start, end) with 0 <= start < end <= {BUCKETS}.")
        return value

    @field_validator("traffic")
    @classmethod
    def _traffic_grid(cls, value: float | None) -> float | None:
        if value is not None and abs(value * BUCKETS - round(value * BUCKETS)) > 1e-6:
            raise ValueError(f"must be a multiple of 1/{BUCKETS} (one bucket).")
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> Experiment:
        problems = cross_field_problems(
            {
                "buckets": self.buckets,
                "traffic": self.traffic,
                "variants": [v.model_dump() for v in self.variants],
                "start": self.start,
                "end": self.end,
                "allowlist": self.allowlist,
            }
        )
        if problems:
            raise ValueError(" ".join(f"{f} == {v!r}, {r}" for f, v, r in problems))
        return self

    @property
    def seed(self) -> str:
        """The variant hash's seed: ``salt`` or, by default, the key (GrowthBook's default)."""
        return self.salt if self.salt is not None else self.key

    @property
    def control(self) -> Variant:
        """The first variant."""
        return self.variants[0]

    @property
    def weights(self) -> list[float]:
        """Variant weights in order."""
        return [v.weight for v in self.variants]

    def active_at(self, at: datetime) -> bool:
        """Running and ``at`` in [start, end)."""
        return self.status == "running" and self.start <= at < self.end


def _as_datetime(value: object) -> datetime | None:
    """``start`` / ``end`` of a raw document as an instant; None when the field rules reject it.

    The field validators report a bad or naive value; here it only disables the cross-field check.
    """
    if not isinstance(value, datetime | str):
        return None
    try:
        return parse_instant(value, "start|end", bare_date="start_of_day")
    except InputError:
        return None


def cross_field_problems(doc: Mapping[str, Any]) -> list[tuple[str, object, str]]:
    """Rules that relate several fields of one experiment, as (field, value, rule) triples.

    Run by the model and, on a raw YAML document, by validation when the model failed for
    another reason, so that a file with a typo *and* bad weights reports both.
    """
    out: list[tuple[str, object, str]] = []
    if (doc.get("buckets") is None) == (doc.get("traffic") is None):
        out.append(
            ("buckets|traffic", [doc.get("buckets"), doc.get("traffic")],
             "must set exactly one of buckets and traffic.")
        )
    variants = doc.get("variants")
    if isinstance(variants, list) and all(isinstance(v, Mapping) for v in variants):
        keys = [v.get("key") for v in variants]
        if len(set(map(str, keys))) != len(keys):
            out.append(("variants[].key", keys, "must be unique."))
        weights = [v.get("weight") for v in variants]
        if all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights):
            total = float(sum(weights))
            if abs(total - 1.0) > WEIGHT_TOLERANCE:
                out.append(
                    ("variants[].weight", weights,
                     f"must sum to 1 (within {WEIGHT_TOLERANCE}); they sum to {total:.6g}.")
                )
        allowlist = doc.get("allowlist")
        if isinstance(allowlist, Mapping):
            for unit, variant in allowlist.items():
                if variant not in keys:
                    out.append(
                        (f"allowlist.{unit}", variant, f"must be one of the variant keys {keys}.")
                    )
    start, end = _as_datetime(doc.get("start")), _as_datetime(doc.get("end"))
    if start is not None and end is not None:
        if end <= start:
            out.append(("end", doc.get("end"), f"must be after start == {doc.get('start')}."))
    return out


class Layer(_Strict):
    """One layer: 10,000 buckets hashed with its own salt.

    Shared by mutually exclusive experiments (one per ranking stage: recall, prerank, rank, mix;
    or user-defined).
    """

    name: Key
    salt: str | None = None
    description: str = ""

    @property
    def seed(self) -> str:
        """The layer hash's seed (``salt`` or the name)."""
        return self.salt if self.salt is not None else self.name


class Holdout(_Strict):
    """The global holdout: a share of units, hashed with its own salt.

    It gets no experiment in any layer. It is logged as an experiment of its own (``key``) with
    variants ``holdout`` (control, served the baseline) and ``in_experiments`` (everyone else) so
    that the cumulative effect of all experiments can be read off a scorecard.
    """

    key: Key = "global_holdout"
    share: Annotated[float, Field(ge=0.0, lt=1.0)]
    salt: str
    start: Annotated[datetime, Field(strict=False)] | None = None
    end: Annotated[datetime, Field(strict=False)] | None = None
    metrics: Metrics | None = None

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return _require_utc(value)

    def as_experiment(self, start: datetime, end: datetime) -> Experiment:
        """Return the holdout as an experiment for analysis.

        Variants ``holdout`` (control, weight = share) and ``in_experiments`` (1 - share), so SRM
        and effects read like any test.
        """
        return Experiment(
            key=self.key,
            layer="holdout",
            buckets=[0, BUCKETS],
            variants=[
                Variant(key=HOLDOUT_VARIANT, weight=self.share),
                Variant(key=HOLDOUT_IN_EXPERIMENTS, weight=1.0 - self.share),
            ],
            status="running",
            start=self.start or start,
            end=self.end or end,
            salt=self.salt,
            metrics=self.metrics or Metrics(primary="gmv_per_user"),
            description="Global holdout: units served the baseline in every layer.",
            owner="experimentation-platform",
        )

    @field_validator("share")
    @classmethod
    def _grid(cls, value: float) -> float:
        if abs(value * BUCKETS - round(value * BUCKETS)) > 1e-6:
            raise ValueError(f"must be a multiple of 1/{BUCKETS} (one bucket).")
        return value

    @property
    def buckets(self) -> int:
        """Holdout buckets: units whose holdout bucket is below this are held out."""
        return round(self.share * BUCKETS)


class LayerSet(_Strict):
    """``layers.yaml``: the holdout and the layers, in serving order."""

    holdout: Holdout | None = None
    layers: Annotated[list[Layer], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> LayerSet:
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layers[].name == {names}, must be unique.")
        seeds = [layer.seed for layer in self.layers]
        if self.holdout is not None:
            seeds.append(self.holdout.salt)
        if len(set(seeds)) != len(seeds):
            # two layers with one salt would be perfectly correlated, not orthogonal
            raise ValueError(f"layer and holdout salts == {seeds}, must be distinct.")
        return self

    def layer(self, name: str) -> Layer | None:
        """The layer called ``name``, or None."""
        return next((layer for layer in self.layers if layer.name == name), None)
