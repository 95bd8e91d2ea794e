"""What ``shoplab experiments validate`` checks of a variant that deploys a model.

A rank-layer variant's ``model`` param (``ctr_ranker/3``, ``ctr_ranker@challenger``) must:

- be a pinned reference (a version or an alias: a bare name would move on every training);
- name a version the registry has, which declares its feature list;
- whose feature service exists in the Feast registry, and returns today exactly the features
  (names and, for batch views, dtypes) the model was trained on: the training/serving skew guard;
- agree with the variant's ``feature_service`` param, when both are given;
- have an artifact that loads as serving loads it (a corrupt pickle fails here, not per request).

A ``model`` param outside the rank layer is refused (no other stage serves models). A
``feature_service`` param without a model must name a service of the Feast registry (a typo
like ``ranker_v9`` fails here, not silently in serving); it is checked once the registry has been
applied (``shoplab features apply``), and skipped before, since the demo validates its configs
before it builds any feature.

The experiment layer cannot import this module (it sits below models): the integration layer
hands :func:`check_variant_params` to ``experiments.validation.validate(param_checker=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping

from shoplab.core.errors import InputError, ShoplabError
from shoplab.core.paths import feast_dir
from shoplab.models.registry import ModelRef, ModelVersionInfo, resolve

__all__ = ["RANK_LAYER", "check_variant_params", "service_problems", "skew_problems"]

RANK_LAYER = "rank"
Found = tuple[str, object, str]  # (param name, value, rule)


def _registry_applied() -> bool:
    # feature_store.yaml's registry path (feast/registry.db under the data root); asking Feast
    # about a registry that does not exist would create an empty one
    return (feast_dir() / "registry.db").is_file()


def _service_columns(service: str) -> tuple[list[str], dict[str, str]]:
    """The service's feature columns today and the dtypes of its batch features.

    Raises:
        UnknownServiceError: no such service in the Feast registry.
    """
    from shoplab.features.repo import feature_store
    from shoplab.features.services import plan_service

    plan = plan_service(feature_store(), service)
    columns = [f"{r.split(':')[0]}__{r.split(':')[1]}" for r in plan.refs]
    dtypes = {
        f"{v.name}__{f}": str(t)
        for v in plan.views
        for f, t in zip(v.features, v.dtypes, strict=True)
    }
    return columns, dtypes


def service_problems(param: str, value: object) -> list[Found]:
    """A ``feature_service`` param: a service of the Feast registry (once one is applied)."""
    if not isinstance(value, str):
        return [(param, value, "must be the name of a Feast feature service (a string).")]
    if not _registry_applied():
        return []
    try:
        _service_columns(value)
    except ShoplabError as exc:
        return [(param, value, f"must be a feature service of the Feast registry: {exc}")]
    return []


def skew_problems(info: ModelVersionInfo) -> list[str]:
    """Why ``info``'s service today does not return what the model was trained on ([] if it does).

    Raises:
        UnknownServiceError: the model's service is not in the Feast registry.
    """
    spec = info.spec
    if spec is None:
        return [
            f"model {info.ref} declares no feature list: tags shoplab.service and "
            "shoplab.features must be set on the version."
        ]
    columns, dtypes = _service_columns(spec.service)
    trained = set(spec.service_features)
    missing = sorted(trained - set(columns))
    added = sorted(set(columns) - trained)
    recorded = dict(spec.dtypes)
    changed = sorted(c for c in recorded if c in dtypes and dtypes[c] != recorded[c])
    out = []
    if missing or added:
        out.append(
            f"must be served by service {spec.service!r} with the {len(trained)} features model "
            f"{info.ref} was trained on; today it lacks {missing} and adds {added} "
            "(training/serving skew: retrain the model on the service as it is)."
        )
    if changed:
        out.append(
            f"must be served with the dtypes model {info.ref} was trained on; service "
            f"{spec.service!r} changed {[(c, recorded[c], dtypes[c]) for c in changed]} "
            "(feature, trained, today)."
        )
    return out


def _model_problems(value: object, feature_service: object) -> list[Found]:
    try:
        ref = ModelRef.parse(value)
        info = resolve(ref)
    except InputError as exc:
        return [("model", value, str(exc).split(", ", 1)[-1])]
    except ShoplabError as exc:  # UnknownModelError, RegistryUnavailableError
        return [("model", value, f"must name a registered model version: {exc}")]
    if info.spec is None:
        return [("model", value, skew_problems(info)[0])]
    out: list[Found] = []
    if feature_service is not None and feature_service != info.spec.service:
        out.append(
            (
                "feature_service",
                feature_service,
                f"must equal model {info.ref}'s feature service {info.spec.service!r} (the one "
                "it was trained on and is served with), or be left out.",
            )
        )
    if not _registry_applied():
        out.append(
            (
                "model",
                value,
                f"its feature service {info.spec.service!r} must exist in the Feast registry, "
                "which is not applied under the data root: run `shoplab features apply`.",
            )
        )
        return out
    try:
        out += [("model", value, rule) for rule in skew_problems(info)]
    except ShoplabError as exc:  # the service is gone from the Feast registry
        out.append(
            (
                "model",
                value,
                f"its feature service {info.spec.service!r} must exist in the Feast registry: "
                f"{exc}",
            )
        )
    out += _load_problems(value, info)
    return out


def _load_problems(value: object, info: ModelVersionInfo) -> list[Found]:
    """The artifact must load as serving loads it (a corrupt pickle would fall back per request).

    One load per version and process (~20-300 ms, cached as serving caches it).
    """
    from shoplab.models.loaded import load

    try:
        load(info)
    except ShoplabError as exc:  # ModelLoadError
        return [("model", value, f"must be a loadable model version: {exc}")]
    return []


def check_variant_params(layer: str, params: Mapping[str, object]) -> list[Found]:
    """Every problem of one variant's ``model`` / ``feature_service`` params.

    Returns ``(param, value, rule)`` triples; validation reports each as
    ``file: variants[i].params.<param> == value: rule``.

    Example:
        >>> check_variant_params("mix", {"model": "ctr_ranker/3"})[0][2][:34]
        'must be set in the rank layer only'
    """
    model = params.get("model")
    service = params.get("feature_service")
    if model is not None:
        if layer != RANK_LAYER:
            return [
                (
                    "model",
                    model,
                    f"must be set in the rank layer only (layer == {layer!r}): no other stage "
                    "serves models.",
                )
            ]
        return _model_problems(model, service)
    if service is not None:
        return service_problems("feature_service", service)
    return []
