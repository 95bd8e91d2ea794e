"""``shoplab readme``: the README's sample outputs, copied from real runs, never retyped.

Three blocks of README.md are generated, each between markers::

    <!-- BEGIN generated: demo-summary (shoplab readme) -->
    ...
    <!-- END generated: demo-summary -->

- ``demo-summary``: the summary table of the last ``make demo`` (``<root>/demo/summary.txt``,
  written by ``shoplab.demo``), in a code block;
- ``audit``: the last ``shoplab audit`` (``<root>/audit/latest.md``);
- ``bench``: the last ``make bench`` (``<root>/benchmarks/latest.json``, rendered by
  ``shoplab.benchmarks.report``).

A block whose source file does not exist is left as it is and reported. ``--check`` changes
nothing and fails when a block differs from its source, which is how a stale README is caught
(the slow suite runs a fresh demo and checks the demo block against it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final

import typer

from shoplab.core.errors import InputError
from shoplab.core.paths import data_root

__all__ = [
    "BLOCKS",
    "Block",
    "BlockResult",
    "block_text",
    "register",
    "render_blocks",
    "update_readme",
]

@dataclass(frozen=True)
class Block:
    """One generated block: its name, its source file, how the file becomes README text."""

    name: str
    source: Callable[[], Path]
    render: Callable[[Path], str]


def _code(path: Path) -> str:
    return "```\n" + path.read_text(encoding="utf-8").rstrip("\n") + "\n```\n"


def _verbatim(path: Path) -> str:
    return path.read_text(encoding="utf-8").rstrip("\n") + "\n"


def _bench(path: Path) -> str:
    from shoplab.benchmarks.report import markdown_table

    return markdown_table(path)


BLOCKS: Final = (
    Block("demo-summary", lambda: data_root() / "demo" / "summary.txt", _code),
    Block("audit", lambda: data_root() / "audit" / "latest.md", _verbatim),
    Block("bench", lambda: data_root() / "benchmarks" / "latest.json", _bench),
)


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN generated: {re.escape(name)} \(shoplab readme\) -->\n)(.*?)"
        rf"(<!-- END generated: {re.escape(name)} -->)",
        re.S,
    )


def block_text(readme: str, name: str) -> str:
    """The current content of block ``name`` in ``readme``'s text.

    Raises:
        InputError: the README has no such block (its markers are missing).
    """
    match = _pattern(name).search(readme)
    if match is None:
        raise InputError(
            f"README block == {name!r} not found, must be between "
            f"'<!-- BEGIN generated: {name} (shoplab readme) -->' and "
            f"'<!-- END generated: {name} -->'."
        )
    return match.group(2)


@dataclass(frozen=True)
class BlockResult:
    """What happened to one block: ``updated``, ``unchanged``, ``stale`` or ``no source``."""

    name: str
    status: str
    source: Path


def _replacer(text: str) -> Callable[[re.Match[str]], str]:
    """Keep the markers, put ``text`` between them (a function: ``text`` is not a pattern)."""
    return lambda m: m.group(1) + text + m.group(3)


def render_blocks(readme: str) -> tuple[str, list[BlockResult]]:
    """``readme`` with every block whose source exists replaced; what happened to each."""
    results = []
    for block in BLOCKS:
        current = block_text(readme, block.name)
        source = block.source()
        if not source.is_file():
            results.append(BlockResult(block.name, "no source", source))
            continue
        new = block.render(source)
        status = "unchanged" if new == current else "updated"
        readme = _pattern(block.name).sub(_replacer(new), readme)
        results.append(BlockResult(block.name, status, source))
    return readme, results


def update_readme(path: Path, *, check: bool = False) -> list[BlockResult]:
    """Refresh the generated blocks of ``path`` (or, with ``check``, only compare them)."""
    text = path.read_text(encoding="utf-8")
    new, results = render_blocks(text)
    if check:
        return [
            BlockResult(r.name, "stale", r.source) if r.status == "updated" else r for r in results
        ]
    if new != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(path)
    return results


def register(app: typer.Typer) -> None:
    """Add ``shoplab readme``."""

    @app.command("readme")
    def readme_cmd(
        path: Annotated[
            Path, typer.Option("--readme", help="The README to refresh.")
        ] = Path("README.md"),
        check: Annotated[
            bool,
            typer.Option("--check", help="Change nothing; exit 1 if a block differs from its run."),
        ] = False,
    ) -> None:
        """Copy the last demo, audit and bench runs into the README's generated blocks."""
        if not path.is_file():
            raise InputError(f"--readme == '{path}' does not exist, must be the README file.")
        results = update_readme(path, check=check)
        for r in results:
            typer.echo(f"{r.name}: {r.status} ({r.source})")
        if check and any(r.status == "stale" for r in results):
            typer.echo("README is stale: run `shoplab readme` after the runs above.", err=True)
            raise typer.Exit(1)
