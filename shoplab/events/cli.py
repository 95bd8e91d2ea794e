"""``shoplab events import`` and ``shoplab events import-schema``: bring a log's own files in.

Registered on the ``events`` group (beside ``events validate``) by ``shoplab.cli``. A failure
on purpose (a bad mapping, a source value that cannot be read) raises a
:class:`~shoplab.core.errors.ShoplabError`: ``shoplab.cli.main`` prints its one message and
exits 2, with nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def import_command(
    config: Annotated[Path, typer.Argument(help="The import mapping (YAML).")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the imported tables' existing files.")
    ] = False,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="NAME=PATH: read source NAME from PATH instead "
                     "(repeatable)."),
    ] = None,
) -> None:
    """Import CSV / Parquet files as event tables under $SHOPLAB_DATA/events, then validate.

    The source files are only read; rows in = accepted + quarantined per table is printed.
    """
    from rich.console import Console

    from shoplab.core.errors import InputError
    from shoplab.core.paths import events_dir
    from shoplab.events.importer import import_events

    paths = {}
    for item in source or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--source == {item!r}, must be NAME=PATH.")
        paths[name] = path
    report = import_events(config, replace=replace, sources=paths)
    console = Console()
    console.print(report.to_rich())
    console.print(f"written to {events_dir()}")


def schema_command(
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print (or write) the JSON schema of import mappings, for editors."""
    from shoplab.events.mapping import ImportConfig

    text = json.dumps(ImportConfig.model_json_schema(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def register(events_app: typer.Typer) -> None:
    """Add ``import`` and ``import-schema`` to the ``events`` command group."""
    events_app.command("import")(import_command)
    events_app.command("import-schema")(schema_command)
