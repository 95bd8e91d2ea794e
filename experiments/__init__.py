"""Experiment layer: validated configs, layered GrowthBook hashing, assignment, exposures.

Public surface::

    from shoplab.experiments import assign, assign_frame, load_experiments
    a = assign(42, {"country": "ID", "platform": "android", "is_new_user": False})
    a["rank"].variant, a["rank"].params, a.holdout
"""

from shoplab.experiments.assignment import (
    Assignment,
    LayerAssignment,
    assign,
    assign_frame,
    resolve_layout,
)
from shoplab.experiments.errors import (
    ConfigError,
    ExperimentError,
    Problem,
    UnitIdError,
    UnknownLayerError,
)
from shoplab.experiments.exposures import first_exposures, log_exposures, read_exposures
from shoplab.experiments.hashing import bucket_v2, fnv1a32, gb_hash, gb_hash_ids
from shoplab.experiments.layout import Layout
from shoplab.experiments.loader import (
    clear_cache,
    config_dir,
    load_experiments,
    load_layers,
    load_layout,
)
from shoplab.experiments.models import (
    Experiment,
    Holdout,
    Layer,
    LayerSet,
    Metrics,
    Targeting,
    Variant,
)
from shoplab.experiments.validation import ValidationReport, validate, validate_all

__all__ = [
    "Assignment",
    "ConfigError",
    "Experiment",
    "ExperimentError",
    "Holdout",
    "Layer",
    "LayerAssignment",
    "LayerSet",
    "Layout",
    "Metrics",
    "Problem",
    "Targeting",
    "UnitIdError",
    "UnknownLayerError",
    "ValidationReport",
    "Variant",
    "assign",
    "assign_frame",
    "bucket_v2",
    "clear_cache",
    "config_dir",
    "first_exposures",
    "fnv1a32",
    "gb_hash",
    "gb_hash_ids",
    "load_experiments",
    "load_layers",
    "load_layout",
    "log_exposures",
    "read_exposures",
    "resolve_layout",
    "validate",
    "validate_all",
]
