"""Feast's noise, contained: false warnings dropped, colour codes kept off non-terminals.

Two kinds, both measured on every command in issue 12:

- ``Could not validate FileSource path '<root>/features/<view>/*.parquet'``, five times per
  ``feast apply`` / ``plan``: Feast stats the path as a file, and a glob is never one, so the
  warning fires whether or not the table exists. Materialization and training check the glob
  themselves and fail with ``FeatureTableMissingError`` naming ``shoplab features build``.
- Raw ANSI codes (``ESC[1mESC[32m``) that Feast ``print``s around names during ``materialize``,
  also into a log file or a CI job: stripped when the output is not a terminal.

:func:`contain_feast_cli_noise` runs when Feast imports shoplab's store classes (the name in
``feature_store.yaml``): process-wide changes only under the ``feast`` command itself, never in
a notebook or a test importing the SDK. :func:`feast_quiet` is the in-process equivalent around
the SDK's own Feast calls.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

__all__ = ["PlainText", "contain_feast_cli_noise", "feast_quiet", "strip_ansi"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_FILE_SOURCE_LOGGER = "feast.infra.offline_stores.file_source"


def strip_ansi(text: str) -> str:
    r"""``text`` without ANSI escape sequences.

    Example:
        >>> strip_ansi("Materializing \x1b[1m\x1b[32m5\x1b[0m feature views")
        'Materializing 5 feature views'
    """
    return _ANSI.sub("", text)


class PlainText(io.TextIOBase):
    """A text stream that writes to ``target`` without ANSI escape sequences."""

    def __init__(self, target: TextIO) -> None:
        """Wrap ``target`` (its encoding, fileno and flush stay the target's)."""
        super().__init__()
        self._target = target

    def write(self, s: str) -> int:
        """Write ``s`` stripped; return ``len(s)`` as a stream would."""
        self._target.write(strip_ansi(s))
        return len(s)

    def flush(self) -> None:
        """Flush the target."""
        self._target.flush()

    def isatty(self) -> bool:
        """False: what is written here is plain text."""
        return False

    def fileno(self) -> int:
        """The target's file descriptor."""
        return self._target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override] # TextIOBase types it as a plain attribute
        """The target's encoding."""
        return str(getattr(self._target, "encoding", "utf-8"))


class _GlobSourceFilter(logging.Filter):
    """Drop Feast's "Could not validate FileSource path" for glob paths (always false)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Could not validate FileSource path"):
            return True
        path = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        return not any(ch in path for ch in "*?[")


_FILTER = _GlobSourceFilter()


def _install_filter() -> None:
    logger = logging.getLogger(_FILE_SOURCE_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def _is_feast_cli() -> bool:
    return Path(sys.argv[0]).name == "feast" if sys.argv else False


def contain_feast_cli_noise() -> None:
    """Drop the false FileSource warnings; under the ``feast`` command, plain stdout off a TTY."""
    _install_filter()
    if not _is_feast_cli():
        return
    if not sys.stdout.isatty() and not isinstance(sys.stdout, PlainText):
        sys.stdout = PlainText(sys.stdout)
    # ibis (Feast's materialization reader) calls an API duckdb 1.4 deprecated, once per view
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="ibis")
    # printed by every command that loads the repo; our on-demand views are tested offline
    warnings.filterwarnings(
        "ignore", message="On demand feature view is an experimental", category=RuntimeWarning
    )


@contextlib.contextmanager
def feast_quiet(stream: Any = None) -> Iterator[None]:
    """For the SDK's own Feast calls: Feast's prints go to stderr, plain unless it is a TTY."""
    _install_filter()
    target: TextIO = stream if stream is not None else sys.stderr
    out: TextIO | PlainText = target if target.isatty() else PlainText(target)
    with contextlib.redirect_stdout(out):
        yield
