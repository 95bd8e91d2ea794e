"""Every environment setting of shoplab, in one pydantic-settings model with its defaults here.

A setting is read from ``SHOPLAB_<NAME>`` (``SHOPLAB_DATA``, ``SHOPLAB_DUCKDB_MEMORY`` ...). The
model is re-read when the environment changes (tests and the audit re-point ``$SHOPLAB_DATA`` for a
block), and cached while it does not: :func:`settings` costs a dict lookup on the hot path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shoplab.core.errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "settings"]

ENV_PREFIX: Final = "SHOPLAB_"


class Settings(BaseSettings):
    """shoplab's environment settings; each field is ``SHOPLAB_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data: Path | None = Field(
        default=None,
        description="The data root. Unset: ./data of the working directory (shoplab.core.paths).",
    )
    experiments: Path | None = Field(
        default=None, description="The experiment config folder. Unset: the packaged configs."
    )
    metrics: str = Field(
        default="",
        description="Extra metric catalog files, separated by os.pathsep (os.pathsep-joined).",
    )
    duckdb_memory: str = Field(
        default="8GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's memory cap per connection; it spills under the data root beyond it. "
        "8GB: the machines are 24 GiB and shared.",
    )
    mlflow_uri: str | None = Field(
        default=None,
        description="MLflow tracking and model-registry URI (http://host:5000, sqlite:///x.db). "
        "Unset: a SQLite registry under the data root (shoplab.models.registry).",
    )
    online_store: Literal["sqlite", "redis"] = Field(
        default="sqlite",
        description="The Feast online store profile. sqlite: feature_repo/feature_store.yaml (the "
        "wide SQLite file under the data root). redis: feature_repo/feature_store.redis.yaml, the "
        "same definitions on Redis (shoplab.features.redis_store); the Feast CLI selects it with "
        "`feast -c feature_repo -f feature_repo/feature_store.redis.yaml apply|materialize|serve`.",
    )
    offline_store: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="The Feast offline store profile. duckdb: feature_repo/feature_store.yaml (the "
        "ASOF DuckDB store). spark: feature_repo/feature_store.spark.yaml, the same definitions "
        "and Parquet feature tables joined on Spark (shoplab.features.spark_offline_store, "
        "`pip install -e '.[spark]'` and Java 17); the Feast CLI selects it with "
        "`feast -c feature_repo -f feature_repo/feature_store.spark.yaml ...`.",
    )
    spark_master: str = Field(
        default="local[2]",
        min_length=1,
        description="The Spark master URL of the spark offline store profile: local[N] (one "
        "process, N cores) or a cluster's (spark://host:7077, yarn, k8s://...).",
    )
    spark_driver_memory: str = Field(
        default="4g",
        pattern=r"^\d+[kmgt]$",
        description="spark.driver.memory of the session the spark profile starts (in local mode "
        "the executors live in the driver: 1M label rows took a ~3.7 GB JVM in the trial).",
    )
    spark_shuffle_partitions: int = Field(
        default=8,
        ge=1,
        description="spark.sql.shuffle.partitions of the spark profile: Spark's default 200 "
        "makes 200 tiny sort tasks per window on local[2]; a cluster wants ~2-3 per core.",
    )
    vocabularies: Path | None = Field(
        default=None,
        description="A YAML file of the event log's vocabularies (countries, platforms, "
        "categories, content_types, surfaces) validation checks values against. Unset: the "
        "import mapping's vocabularies block, else the contract's lists (shoplab.events."
        "vocabularies).",
    )
    predict_threads: int = Field(
        default=0,
        ge=0,
        description="Threads of one LightGBM predict of a ranking request (256 to 10,000 "
        "candidates; smaller batches use one, larger ones every core). 0: every core, the "
        "lowest latency of one request (500 candidates x 200 trees: p50 3.3 -> 1.9 ms, p99 "
        "6.1 -> 3.4 ms on 2 cores); 1: one per request, for a server running one request per "
        "core (the highest throughput).",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        pattern=r"^(redis|rediss|unix)://",
        description="The Redis server of the redis online store profile (redis-py URL syntax).",
    )

    @field_validator("data", "experiments", "mlflow_uri", "vocabularies", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``SHOPLAB_DATA=`` (empty) means unset, not the working directory (``Path('')``)."""
        return None if isinstance(value, str) and not value.strip() else value


_cache: dict[tuple[tuple[str, str], ...], Settings] = {}


def settings() -> Settings:
    """Return the settings for the current environment (cached per ``SHOPLAB_*`` snapshot).

    Raises:
        ConfigError: a ``SHOPLAB_*`` variable breaks its rule (named with value and rule).
    """
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIX)))
    hit = _cache.get(key)
    if hit is not None:
        return hit
    try:
        value = Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ENV_PREFIX + str(err["loc"][0]).upper() if err["loc"] else ENV_PREFIX
        raise ConfigError(f"{name} == {err.get('input')!r}, {err['msg'].lower()}.") from None
    if len(_cache) > 64:  # many short-lived environments (tests): keep the cache bounded
        _cache.clear()
    _cache[key] = value
    return value
