"""The manifest of the validated event log: which files, which bytes, how many rows.

Validation (``load_events``) ends by writing ``events/manifest.json``: per table, every file it
accepted with its size, modification time, row count and SHA-256, and the table's rows in /
accepted / quarantined; the whole log gets a ``version``, a hash of every (table, file, content
hash). Every later step names that version: the feature build and the online store's
materialization record it, and every scorecard carries it. Analysis reads exactly the files the
manifest lists: before a scorecard is computed, :func:`check_event_log` compares the files on
disk with the manifest (a new file, a missing one, one whose bytes changed) and the analysis
refuses a log that was never validated or changed since (``allow_unvalidated`` turns the refusal
into a loud warning and an untrustworthy scorecard). This is how a hidden ``.extra.parquet`` or
a never-validated order of −250,000 once moved a scorecard silently.

The check is cheap on a log that did not change: a file whose size and modification time equal
the manifest's is not re-hashed; one whose stat differs is hashed, so touching a file is not a
change but rewriting its bytes is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from shoplab.core.atomic import atomic_write_text
from shoplab.core.contract import TABLES
from shoplab.core.errors import StateError
from shoplab.core.files import file_digest, parquet_files
from shoplab.core.paths import data_root, events_dir

__all__ = [
    "FileEntry",
    "LogCheck",
    "LogManifest",
    "LogStatus",
    "TableEntry",
    "UnvalidatedLogError",
    "check_event_log",
    "manifest_path",
    "read_manifest",
    "record_validation",
]

MANIFEST_NAME: Final = "manifest.json"

LogStatus = Literal["validated", "unvalidated", "changed"]
"""``validated``: the files on disk are the manifest's; ``unvalidated``: no manifest at all;
``changed``: a file was added, removed or rewritten since validation."""


class UnvalidatedLogError(StateError):
    """The event log was never validated, or changed since: analysis refuses to read it."""


@dataclass(frozen=True)
class FileEntry:
    """One accepted file: path relative to the data root, size, mtime, rows, content hash."""

    path: str
    bytes: int
    mtime_ns: int
    rows: int
    sha256: str


@dataclass(frozen=True)
class TableEntry:
    """One table as validation left it: its accepted files and row counts.

    ``rows_in``, ``quarantined`` and ``reasons`` are those of the validation that produced the
    accepted files: a later run that finds nothing new keeps them (validation is idempotent, and
    "0 quarantined" would hide the rows the first run moved out).
    """

    table: str
    files: tuple[FileEntry, ...]
    rows_in: int
    accepted: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    validated_at: str = ""


@dataclass(frozen=True)
class LogManifest:
    """The validated event log: its version, when, and every table."""

    version: str
    validated_at: str
    tables: dict[str, TableEntry]
    vocabularies: dict[str, Any] | None = None  # the source and lists the rules checked

    @property
    def rows_in(self) -> int:
        """Rows read by validation over every table."""
        return sum(t.rows_in for t in self.tables.values())

    @property
    def accepted(self) -> int:
        """Rows accepted over every table."""
        return sum(t.accepted for t in self.tables.values())

    @property
    def quarantined(self) -> int:
        """Rows quarantined over every table."""
        return sum(t.quarantined for t in self.tables.values())

    @property
    def files(self) -> int:
        """Accepted files over every table."""
        return sum(len(t.files) for t in self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON form (what ``events/manifest.json`` holds)."""
        return {
            "version": self.version,
            "validated_at": self.validated_at,
            "rows_in": self.rows_in,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "tables": {k: asdict(v) for k, v in self.tables.items()},
            "vocabularies": self.vocabularies,
        }


@dataclass(frozen=True)
class LogCheck:
    """The event log on disk against its manifest: what every downstream record names.

    Attributes:
        status: ``validated``, ``unvalidated`` (no manifest) or ``changed``.
        version: the manifest's version ("" without a manifest).
        validated_at: when validation wrote it ("" without one).
        files, rows_in, accepted, quarantined: the manifest's totals over the checked tables.
        problems: what differs, one line per file (new, missing, rewritten), first 20.
    """

    status: LogStatus
    version: str = ""
    validated_at: str = ""
    files: int = 0
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (scorecards, feature manifests and materialization state embed it)."""
        return asdict(self)

    def describe(self) -> str:
        """One line for a CLI header.

        Example:
            >>> LogCheck("validated", "ab12cd34ef56ab78", "2026-01-01T00:00:00+00:00", 3,
            ...          1010, 1000, 10).describe()
            'event log ab12cd34ef56ab78 validated 2026-01-01T00:00:00+00:00: 3 files, rows in 1,010 = accepted 1,000 + quarantined 10'
        """  # noqa: E501
        if self.status == "unvalidated":
            return (
                "event log NOT VALIDATED (no events/manifest.json): "
                "run `shoplab events validate`"
            )
        head = f"event log {self.version} validated {self.validated_at}"
        counts = (
            f"{self.files} files, rows in {self.rows_in:,} = accepted {self.accepted:,} "
            f"+ quarantined {self.quarantined:,}"
        )
        if self.status == "changed":
            return f"{head}, CHANGED SINCE: {'; '.join(self.problems[:3])} ({counts} at validation)"
        return f"{head}: {counts}"


def manifest_path() -> Path:
    """``<root>/events/manifest.json``."""
    return events_dir() / MANIFEST_NAME


def _entry(path: Path, rows: int, digest: str | None = None) -> FileEntry:
    st = path.stat()
    return FileEntry(
        path=path.relative_to(data_root()).as_posix(),
        bytes=st.st_size,
        mtime_ns=st.st_mtime_ns,
        rows=rows,
        sha256=digest or file_digest(path),
    )


def _version(tables: Mapping[str, TableEntry]) -> str:
    h = hashlib.sha256()
    for name in sorted(tables):
        for f in tables[name].files:
            h.update(f"{name}\0{f.path}\0{f.sha256}\n".encode())
    return h.hexdigest()[:16]


def read_manifest() -> LogManifest | None:
    """The manifest of the last validation, or None (never validated, or unreadable)."""
    try:
        raw = json.loads(manifest_path().read_text(encoding="utf-8"))
        tables = {
            name: TableEntry(**{**t, "files": tuple(FileEntry(**f) for f in t["files"])})
            for name, t in raw["tables"].items()
        }
        return LogManifest(raw["version"], raw["validated_at"], tables,
                           raw.get("vocabularies"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _same(prev: TableEntry | None, now: Sequence[tuple[Path, int]]) -> bool:
    """Whether ``now``'s files are exactly ``prev``'s (paths, and bytes by stat then hash)."""
    if prev is None or len(prev.files) != len(now):
        return False
    root = data_root()
    for f, (path, _) in zip(prev.files, now, strict=True):
        if (root / f.path) != path or _changed(f, path):
            return False
    return True


def _changed(f: FileEntry, path: Path) -> bool:
    st = path.stat()
    if st.st_size == f.bytes and st.st_mtime_ns == f.mtime_ns:
        return False
    return st.st_size != f.bytes or file_digest(path) != f.sha256


def record_validation(
    results: Iterable[Any], *, vocabularies: dict[str, Any] | None = None
) -> LogManifest:
    """Write the manifest after a validation run; ``results`` are its ``TableLoad`` entries.

    Tables of the run get fresh entries (their accepted files, hashed now); a table left out of
    the run keeps its previous entry only if its files did not change since, and is dropped
    (unvalidated) otherwise. A run that quarantined nothing over files equal to the previous
    manifest's keeps the previous counts.
    """
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    old = read_manifest()
    previous = old.tables if old is not None else {}
    tables: dict[str, TableEntry] = {}
    ran = {r.table: r for r in results}
    for name in TABLES:
        on_disk = [(p, 0) for p in parquet_files(events_dir(name))]
        prev = previous.get(name)
        r = ran.get(name)
        if r is None:
            if prev is not None and _same(prev, on_disk):
                tables[name] = prev
            continue
        if prev is not None and r.quarantined == 0 and _same(prev, on_disk):
            tables[name] = prev  # nothing new: the counts of the run that made these files
            continue
        rows = _rows(name)
        files = tuple(_entry(p, rows.get(p, 0)) for p, _ in on_disk)
        tables[name] = TableEntry(
            table=name,
            files=files,
            rows_in=r.rows_in,
            accepted=r.accepted,
            quarantined=r.quarantined,
            reasons=dict(r.reasons),
            validated_at=now,
        )
    manifest = LogManifest(_version(tables), now, tables, vocabularies)
    atomic_write_text(manifest_path(), json.dumps(manifest.as_dict(), indent=1) + "\n")
    return manifest


def _rows(table: str) -> dict[Path, int]:
    """Rows per accepted file, from the footers (validation just rewrote some of them)."""
    import pyarrow.parquet as pq

    return {p: int(pq.ParquetFile(p).metadata.num_rows) for p in parquet_files(events_dir(table))}


def _unreadable(table: str, path: Path) -> str:
    """Why a file that changed cannot even be read as its table ("" when its footer is fine)."""
    from shoplab.events.errors import EventLogError
    from shoplab.events.files import check_schema

    try:
        check_schema(table, path)
    except EventLogError as exc:
        return f" and fails the contract ({exc})"
    return ""


def check_event_log(
    tables: Sequence[str] | None = None, *, allow_unvalidated: bool = False
) -> LogCheck:
    """Compare the files of ``tables`` (default: all) on disk with the validation manifest.

    Args:
        tables: the event tables the caller reads.
        allow_unvalidated: return a non-``validated`` check instead of raising (the caller warns
            loudly and marks its output untrustworthy).

    Raises:
        UnvalidatedLogError: no manifest, or a file new, missing or rewritten since validation;
            the message names the files and the command that fixes it.
    """
    wanted = list(TABLES) if tables is None else list(tables)
    manifest = read_manifest()
    if manifest is None:
        check = LogCheck("unvalidated")
        if allow_unvalidated:
            return check
        raise UnvalidatedLogError(
            f"event log == unvalidated ({manifest_path()} is missing or unreadable), must be "
            "validated before analysis: run `shoplab events validate` (or pass "
            "--allow-unvalidated to analyze it anyway, with an untrustworthy scorecard)."
        )
    root = data_root()
    problems: list[str] = []
    counted = [manifest.tables[t] for t in wanted if t in manifest.tables]
    for name in wanted:
        entry = manifest.tables.get(name)
        listed = {f.path: f for f in entry.files} if entry is not None else {}
        on_disk = {p.relative_to(root).as_posix(): p for p in parquet_files(events_dir(name))}
        problems += [
            f"{p} is new{_unreadable(name, on_disk[p])}" for p in sorted(set(on_disk) - set(listed))
        ]
        problems += [f"{p} is missing" for p in sorted(set(listed) - set(on_disk))]
        problems += [
            f"{p} was rewritten{_unreadable(name, on_disk[p])}"
            for p in sorted(set(on_disk) & set(listed))
            if _changed(listed[p], on_disk[p])
        ]
    check = LogCheck(
        status="changed" if problems else "validated",
        version=manifest.version,
        validated_at=manifest.validated_at,
        files=sum(len(t.files) for t in counted),
        rows_in=sum(t.rows_in for t in counted),
        accepted=sum(t.accepted for t in counted),
        quarantined=sum(t.quarantined for t in counted),
        problems=tuple(problems[:20]),
    )
    if problems and not allow_unvalidated:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UnvalidatedLogError(
            f"event log == changed since validation {manifest.version} "
            f"({manifest.validated_at}): {'; '.join(problems[:3])}{more}; must be validated "
            "before analysis: run `shoplab events validate` (or pass --allow-unvalidated)."
        )
    return check
