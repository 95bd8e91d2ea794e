"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists ``public name -> defining module`` and gets a module ``__getattr__`` that imports
the defining module on first use. Why: ``import shoplab`` (and the CLI) must not pay for Feast,
DuckDB or Streamlit (seconds of import time) until a function that needs them is called, while
users still write ``shoplab.analyze`` / ``analysis.Scorecard`` as if everything were imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package`` re-exporting ``exports`` lazily.

    Args:
        package: the package's ``__name__`` (for error messages).
        exports: public name -> module that defines it.
        namespace: the package's ``globals()``; a resolved name is cached there, so the import
            happens once and later lookups are plain attribute reads.

    Example:
        >>> getattr_, dir_ = lazy_exports("pkg", {"sqrt": "math"}, ns := {"__all__": ["sqrt"]})
        >>> getattr_("sqrt")(9.0), "sqrt" in ns
        (3.0, True)
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(namespace.get("__all__", exports))

    return __getattr__, __dir__
