"""MLflow's model registry: where shoplab's models are registered, named and looked up.

Default: a SQLite tracking store and registry at ``<data root>/mlflow/mlflow.db``, artifacts under
``<data root>/mlflow/artifacts``, so a world's models live and are wiped with the world.
``$SHOPLAB_MLFLOW_URI`` points at a tracking server (``http://host:5000``) or another store
instead; the artifacts are then wherever that server keeps them.

A model is named ``NAME/VERSION`` (``ctr_ranker/3``) or ``NAME@ALIAS`` (``ctr_ranker@champion``);
a bare ``NAME`` means its newest version where that is unambiguous (``models show``). Each version
carries ``shoplab.*`` tags: the feature service, the exact feature list and dtypes
(:class:`~shoplab.models.ranker.FeatureSpec`), the training and validation windows, the data
version, the library versions and the offline metrics (JSON in ``shoplab.metrics``, and as the
run's metrics). Any MLflow pyfunc registered with ``shoplab.service`` and ``shoplab.features``
tags is served the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoplab.core.errors import InputError
from shoplab.core.paths import data_root
from shoplab.core.settings import settings
from shoplab.models.errors import RegistryUnavailableError, UnknownModelError
from shoplab.models.quiet import mlflow_quiet
from shoplab.models.ranker import FeatureSpec

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

__all__ = [
    "EXPERIMENT",
    "ModelRef",
    "ModelVersionInfo",
    "get_version",
    "list_versions",
    "mlflow_client",
    "register",
    "resolve",
    "set_alias",
    "tracking_uri",
]

EXPERIMENT = "shoplab-models"
"""The MLflow experiment every training run is logged under."""

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_ALIAS = r"[A-Za-z][A-Za-z0-9_-]*"
_REF = re.compile(rf"^(?P<name>{_NAME})(?:/(?P<version>[0-9]+)|@(?P<alias>{_ALIAS}))?$")
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
# MLflow's REST client retries an unreachable server 7 times with exponential backoff (minutes);
# a registry that does not answer within two tries is reported at once.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def local_paths() -> tuple[Path, Path]:
    """``(<root>/mlflow/mlflow.db, <root>/mlflow/artifacts)``: the default store's files."""
    base = data_root() / "mlflow"
    return base / "mlflow.db", base / "artifacts"


def tracking_uri() -> str:
    """The tracking and registry URI: ``$SHOPLAB_MLFLOW_URI``, else the data root's SQLite file.

    Example:
        >>> tracking_uri().startswith("sqlite:///") or "SHOPLAB_MLFLOW_URI" in os.environ
        True
    """
    configured = settings().mlflow_uri
    if configured:
        return configured
    return f"sqlite:///{local_paths()[0]}"


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model: ``name``, ``name/version`` or ``name@alias``."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: object, field: str = "model") -> ModelRef:
        """Parse ``text``.

        Raises:
            InputError: not ``NAME``, ``NAME/VERSION`` or ``NAME@ALIAS``.

        Example:
            >>> ModelRef.parse("ctr_ranker/3"), ModelRef.parse("ctr_ranker@champion").alias
            (ModelRef(name='ctr_ranker', version=3, alias=None), 'champion')
        """
        match = _REF.match(text) if isinstance(text, str) else None
        if match is None:
            raise InputError(
                f"{field} == {text!r}, must be NAME/VERSION or NAME@ALIAS "
                "(e.g. ctr_ranker/3, ctr_ranker@champion)."
            )
        version = match["version"]
        return cls(match["name"], int(version) if version else None, match["alias"])

    @property
    def pinned(self) -> bool:
        """Names a version or an alias (what a deployed variant must do)."""
        return self.version is not None or self.alias is not None

    def __str__(self) -> str:
        """As written: ``name``, ``name/3`` or ``name@alias``."""
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return f"{self.name}@{self.alias}" if self.alias else self.name


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version and what shoplab recorded about it."""

    name: str
    version: int
    aliases: tuple[str, ...]
    tags: Mapping[str, str]
    source: str
    run_id: str | None
    created: datetime
    spec: FeatureSpec | None = field(default=None)

    @property
    def ref(self) -> str:
        """``name/version``."""
        return f"{self.name}/{self.version}"

    @property
    def metrics(self) -> dict[str, Any]:
        """The offline metrics recorded at training ({} for a version shoplab did not train)."""
        try:
            got = json.loads(self.tags.get("shoplab.metrics", "{}"))
        except ValueError:
            return {}
        return got if isinstance(got, dict) else {}


@contextlib.contextmanager
def _http_limits() -> Iterator[None]:
    unset = [k for k in _HTTP_DEFAULTS if k not in os.environ]
    for k in unset:
        os.environ[k] = _HTTP_DEFAULTS[k]
    try:
        yield
    finally:
        for k in unset:
            os.environ.pop(k, None)


@contextlib.contextmanager
def mlflow_client() -> Iterator[MlflowClient]:
    """An MLflow client on :func:`tracking_uri`, quiet, with MLflow's global URIs set to it.

    The global URIs matter for ``mlflow.start_run`` / ``log_model`` / ``load_model``, which read
    them; they are set on every entry because the data root (and so the default URI) may change
    between calls (tests, the audit's scratch worlds).

    Raises:
        RegistryUnavailableError: an MLflow error escaped the block (the store cannot be reached
            or written); lookups of missing names raise :class:`UnknownModelError` themselves.
    """
    uri = tracking_uri()
    with mlflow_quiet(), _http_limits():
        import mlflow
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        if not settings().mlflow_uri:
            db, artifacts = local_paths()
            db.parent.mkdir(parents=True, exist_ok=True)
            artifacts.mkdir(parents=True, exist_ok=True)
        try:
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            yield MlflowClient(tracking_uri=uri, registry_uri=uri)
        except MlflowException as exc:
            raise RegistryUnavailableError(
                f"MLflow URI == {uri!r} failed: {_first_line(exc)}; must be a reachable tracking "
                "server or a writable sqlite:/// store (SHOPLAB_MLFLOW_URI)."
            ) from exc
        except OSError as exc:  # requests' ConnectionError is an OSError
            raise RegistryUnavailableError(
                f"MLflow URI == {uri!r} cannot be reached ({type(exc).__name__}: "
                f"{_first_line(exc)}); must be a reachable tracking server (SHOPLAB_MLFLOW_URI)."
            ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _is_not_found(exc: BaseException) -> bool:
    return str(getattr(exc, "error_code", "")) in _NOT_FOUND


def _info(mv: ModelVersion, aliases: tuple[str, ...] | None = None) -> ModelVersionInfo:
    tags = {str(k): str(v) for k, v in (mv.tags or {}).items()}
    try:
        spec = FeatureSpec.from_tags(tags) if "shoplab.features" in tags else None
    except (KeyError, ValueError):
        spec = None  # a foreign or hand-edited version: validation and serving say why
    return ModelVersionInfo(
        name=mv.name,
        version=int(mv.version),
        aliases=tuple(sorted(aliases if aliases is not None else (mv.aliases or ()))),
        tags=tags,
        source=str(mv.source),
        run_id=mv.run_id or None,
        created=datetime.fromtimestamp((mv.creation_timestamp or 0) / 1000, tz=UTC),
        spec=spec,
    )


def _unknown(ref: ModelRef, client: MlflowClient) -> UnknownModelError:
    """The error for a missing ``ref``, naming what the registry does have."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(ref.name)
    except MlflowException as exc:
        if not _is_not_found(exc):
            raise
        names = sorted(m.name for m in client.search_registered_models())
        return UnknownModelError(
            f"model == {str(ref)!r}: no registered model {ref.name!r}, must be one of {names}."
        )
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{ref.name}'"))
    if ref.alias is not None:
        return UnknownModelError(
            f"model == {str(ref)!r}: no alias {ref.alias!r}, must be one of "
            f"{sorted(model.aliases or {})} (shoplab models alias {ref.name} VERSION ALIAS)."
        )
    if ref.version is None:
        return UnknownModelError(f"model == {str(ref)!r} has no version yet: train one first.")
    return UnknownModelError(
        f"model == {str(ref)!r}: no version {ref.version}, must be one of {versions}."
    )


def get_version(ref: ModelRef | str, client: MlflowClient | None = None) -> ModelVersionInfo:
    """The registered version ``ref`` names (a bare name: its newest version).

    Raises:
        InputError: ``ref`` is not a model reference.
        UnknownModelError: no such model, version or alias (the message lists what exists).
        RegistryUnavailableError: the registry cannot be reached.
    """
    ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
    if client is None:
        with mlflow_client() as own:
            return get_version(ref, own)
    from mlflow.exceptions import MlflowException

    try:
        if ref.alias is not None:
            mv = client.get_model_version_by_alias(ref.name, ref.alias)
        elif ref.version is not None:
            mv = client.get_model_version(ref.name, str(ref.version))
        else:
            found = client.search_model_versions(f"name='{ref.name}'")
            if not found:
                raise _unknown(ref, client)
            mv = max(found, key=lambda v: int(v.version))
            mv = client.get_model_version(ref.name, str(mv.version))  # search omits aliases
    except MlflowException as exc:
        if not _is_not_found(exc):
            raise
        raise _unknown(ref, client) from None
    return _info(mv)


def resolve(ref: ModelRef | str) -> ModelVersionInfo:
    """The version a pinned reference (``name/3``, ``name@alias``) names.

    Raises:
        InputError: ``ref`` is no reference, or a bare name (a deployment must pin a version).
        UnknownModelError, RegistryUnavailableError: as :func:`get_version`.
    """
    parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
    if not parsed.pinned:
        raise InputError(
            f"model == {str(parsed)!r}, must name a version or an alias "
            f"({parsed.name}/VERSION or {parsed.name}@ALIAS): a bare name moves on every training."
        )
    return get_version(parsed)


def list_versions(name: str | None = None) -> list[ModelVersionInfo]:
    """Every registered version (of ``name``), by name then version, with its aliases.

    Raises:
        UnknownModelError: ``name`` is given and not registered.
    """
    with mlflow_client() as client:
        models = client.search_registered_models()
        if name is not None and name not in {m.name for m in models}:
            raise _unknown(ModelRef(name), client)
        out: list[ModelVersionInfo] = []
        for model in sorted(models, key=lambda m: m.name):
            if name is not None and model.name != name:
                continue
            by_version: dict[int, list[str]] = {}
            for alias, version in (model.aliases or {}).items():
                by_version.setdefault(int(version), []).append(alias)
            found = client.search_model_versions(f"name='{model.name}'")
            out += sorted(
                (_info(v, tuple(by_version.get(int(v.version), ()))) for v in found),
                key=lambda i: i.version,
            )
        return out


def set_alias(name: str, version: int, alias: str) -> ModelVersionInfo:
    """Point ``name@alias`` at ``version`` (moving it from any other version).

    Raises:
        InputError: ``alias`` is not a valid alias (letters, digits, ``_``, ``-``; a letter first)
            or looks like a version (``v3`` is reserved by MLflow).
        UnknownModelError: no such model or version.
    """
    if not re.fullmatch(_ALIAS, alias) or re.fullmatch(r"[vV][0-9]+", alias):
        raise InputError(
            f"alias == {alias!r}, must start with a letter, hold only letters, digits, _ and -, "
            "and not look like a version (v3)."
        )
    ref = ModelRef(name, int(version))
    with mlflow_client() as client:
        get_version(ref, client)
        client.set_registered_model_alias(name, alias, str(version))
        return get_version(ModelRef(name, alias=alias), client)


def _signature(spec: FeatureSpec) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    dtypes = dict(spec.dtypes)
    # numbers as double: a nullable integer column is float in pandas, and serving passes floats
    inputs: list[ColSpec | TensorSpec] = [
        ColSpec("string" if dtypes.get(f) == "String" else "double", f, required=False)
        for f in spec.features
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema([ColSpec("double")]))


def register(
    name: str,
    python_model: Any,
    spec: FeatureSpec,
    *,
    params: Mapping[str, object] | None = None,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, str] | None = None,
    artifacts: Mapping[str, dict[str, Any]] | None = None,
) -> ModelVersionInfo:
    """Log ``python_model`` as a pyfunc in a new run; register it as ``name``'s next version.

    Args:
        name: registered model name (letters, digits, ``_ . -``).
        python_model: an ``mlflow.pyfunc.PythonModel`` (the built-in
            :class:`~shoplab.models.ranker.ShoplabRanker`, or any other whose ``predict`` reads
            the columns ``spec.features``).
        spec: the feature service and inputs, recorded as ``shoplab.*`` tags.
        params: run parameters (windows, algorithm, hyperparameters).
        metrics: scalar offline metrics (run metrics and the ``shoplab.metrics`` tag).
        tags: more version tags (data version, library versions ...).
        artifacts: JSON documents logged with the run (``name.json`` -> content).

    Raises:
        InputError: ``name`` is not a valid model name.
        RegistryUnavailableError: the registry cannot be reached or written.
    """
    if not re.fullmatch(_NAME, name):
        raise InputError(
            f"name == {name!r}, must start with a letter or digit and hold only letters, digits, "
            "'_', '.' and '-'."
        )
    import lightgbm
    import mlflow
    import mlflow.pyfunc
    import polars
    import sklearn

    all_tags = {
        **spec.tags(),
        "shoplab.metrics": json.dumps(dict(metrics or {}), sort_keys=True),
        "shoplab.library_versions": json.dumps(
            {
                "mlflow": mlflow.__version__,
                "lightgbm": lightgbm.__version__,
                "scikit-learn": sklearn.__version__,
                "polars": polars.__version__,
            },
            sort_keys=True,
        ),
        **dict(tags or {}),
    }
    with mlflow_client() as client:
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            location = None if settings().mlflow_uri else local_paths()[1].as_uri()
            experiment_id = client.create_experiment(EXPERIMENT, artifact_location=location)
        with mlflow.start_run(experiment_id=experiment_id, run_name=name):
            mlflow.log_params({k: str(v)[:500] for k, v in (params or {}).items()})
            if metrics:
                mlflow.log_metrics(dict(metrics))
            mlflow.set_tags(all_tags)
            mlflow.log_dict(
                {"service": spec.service, "features": list(spec.features),
                 "dtypes": dict(spec.dtypes), "service_features": list(spec.service_features),
                 "target": spec.target},
                "feature_spec.json",
            )
            for file, doc in (artifacts or {}).items():
                mlflow.log_dict(doc, file)
            logged = mlflow.pyfunc.log_model(
                name="model",
                python_model=python_model,
                signature=_signature(spec),
                # explicit: inferring them imports the model in a subprocess (seconds)
                pip_requirements=[
                    f"mlflow=={mlflow.__version__}",
                    f"lightgbm=={lightgbm.__version__}",
                    f"scikit-learn=={sklearn.__version__}",
                    f"polars=={polars.__version__}",
                ],
            )
        mv = mlflow.register_model(logged.model_uri, name, tags=all_tags)
        return get_version(ModelRef(name, int(mv.version)), client)
