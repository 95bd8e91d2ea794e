"""What a validation run did, per table: rows in = rows accepted + rows quarantined."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoplab.core.atomic import atomic_write_text
from shoplab.events.errors import UnknownTableError

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table as RichTable

__all__ = ["LoadReport", "TableLoad"]


@dataclass(frozen=True)
class TableLoad:
    """One table of a validation run.

    Attributes:
        table: the event table.
        files: Parquet files read.
        rows_in: rows in those files before this run.
        accepted: rows left in the files (``rows_in - quarantined``).
        quarantined: rows moved to ``quarantine/<table>/`` by this run.
        reasons: quarantined rows per reason (sums to ``quarantined``).
        rewritten: files rewritten without their quarantined rows.
    """

    table: str
    files: int
    rows_in: int
    accepted: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    rewritten: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadReport:
    """Every table of a validation run, in order, its wall time and the log version it left.

    ``version`` is the validated log's (``events/manifest.json``, ``shoplab.events.manifest``).
    """

    tables: tuple[TableLoad, ...]
    seconds: float
    version: str = ""

    def __getitem__(self, table: str) -> TableLoad:
        """The entry of one table: ``report["clicks"].quarantined``."""
        for t in self.tables:
            if t.table == table:
                return t
        known = [t.table for t in self.tables]
        raise UnknownTableError(f"table == {table!r}, must be one of {known}.")

    @property
    def rows_in(self) -> int:
        """Rows read over all tables."""
        return sum(t.rows_in for t in self.tables)

    @property
    def quarantined(self) -> int:
        """Rows quarantined over all tables."""
        return sum(t.quarantined for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (snake_case keys) for JSON."""
        return {
            "version": self.version,
            "seconds": self.seconds,
            "tables": [asdict(t) for t in self.tables],
        }

    def write_json(self, path: Path) -> None:
        """Write :meth:`as_dict` to ``path`` (the loader writes ``quarantine/report.json``).

        Atomically: a dashboard reading the report while a run ends never sees half of it.
        """
        atomic_write_text(path, json.dumps(self.as_dict(), indent=2) + "\n")

    def __rich__(self) -> RichTable:
        """Rich renders a report as its table (``console.print(report)``)."""
        return self.to_rich()

    def to_rich(self) -> RichTable:
        """A Rich table: one row per table, then the reasons of quarantined rows."""
        from rich.table import Table

        version = f", version {self.version}" if self.version else ""
        out = Table(title=f"event log validation ({self.seconds:.1f} s{version})")
        for col, justify in (("table", "left"), ("files", "right"), ("rows in", "right"),
                             ("accepted", "right"), ("quarantined", "right"),
                             ("reasons", "left")):
            out.add_column(col, justify=justify)  # type: ignore[arg-type]
        for t in self.tables:
            reasons = ", ".join(f"{r}: {n:,}" for r, n in sorted(t.reasons.items()))
            style = "red" if t.quarantined else None
            out.add_row(t.table, f"{t.files:,}", f"{t.rows_in:,}", f"{t.accepted:,}",
                        f"{t.quarantined:,}", reasons, style=style)
        return out
