"""MLflow's noise, contained: its logs, warnings and prints stay out of shoplab's output.

Measured on one ``shoplab models train`` against a fresh SQLite registry: two INFO lines from
``mlflow.store.db.utils`` and a dozen from alembic (the schema migrations), a WARNING about
CloudPickle for every ``log_model``, a UserWarning asking for type hints on ``predict``, and
"Successfully registered model ..." / "Created version ..." printed to stderr. None of it is
actionable for a shoplab user; an MLflow failure still raises, and shoplab turns it into its own
error (:mod:`shoplab.models.errors`). Like :func:`shoplab.features.quiet.feast_quiet`, the
changes last only for the block: a notebook importing MLflow itself keeps MLflow's defaults.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

__all__ = ["mlflow_quiet"]

_LOGGERS = ("mlflow", "alembic", "sqlalchemy", "urllib3")


@contextlib.contextmanager
def mlflow_quiet() -> Iterator[None]:
    """Silence MLflow's logging, warnings and stdout/stderr prints for the block.

    Example:
        >>> with mlflow_quiet():
        ...     logging.getLogger("mlflow.store").warning("not shown")
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow warns about its own type hints at import
        import mlflow  # noqa: F401  (its import configures its loggers: set ours after it)

    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [lg.level for lg in loggers]
    sink = io.StringIO()
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
