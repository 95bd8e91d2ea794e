"""``shoplab dashboard``: open the Streamlit experiment dashboard on the current data root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

__all__ = ["APP_PATH", "register", "streamlit_command"]

APP_PATH = Path(__file__).with_name("app.py")


def streamlit_command(port: int, headless: bool) -> list[str]:
    """The ``streamlit run`` command line the CLI (and the browser test) start.

    Usage statistics are off: dashboards run next to experiment data and must not phone home.
    """
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.port",
        str(port),
        "--server.headless",
        "true" if headless else "false",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        # headless runs (CI, the browser test) must not be reachable from the network
        *(["--server.address", "localhost"] if headless else []),
    ]


def _check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise typer.BadParameter(f"--port == {port}, must be in [1, 65535].")
    return port


def register(app: typer.Typer) -> None:
    """Add this area's commands to the ``shoplab`` app."""

    @app.command("dashboard")
    def dashboard(
        port: int = typer.Option(8501, "--port", callback=_check_port, help="Port to serve on."),
        headless: bool = typer.Option(
            False, "--headless", help="Do not open a browser; listen on localhost only."
        ),
    ) -> None:
        """Open the experiment dashboard (Streamlit) on $SHOPLAB_DATA."""
        from shoplab.core.paths import data_root

        typer.echo(f"shoplab dashboard on http://localhost:{port} (data root {data_root()})")
        cmd = streamlit_command(port, headless)
        sys.stdout.flush()
        # Replace this process rather than wrap it: Ctrl-C, `kill` and service managers then reach
        # the server directly instead of leaving an orphaned Streamlit behind.
        os.execv(cmd[0], cmd)
