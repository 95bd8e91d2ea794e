"""``shoplab dashboard``: open the Streamlit experiment dashboard on the current data root."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import typer

__all__ = ["APP_PATH", "DEFAULT_HOST", "SAFE_OPTIONS", "register", "streamlit_command"]

APP_PATH = Path(__file__).with_name("app.py")
DEFAULT_HOST = "127.0.0.1"
"""Loopback only: the dashboard shows experiment results and has no login of its own."""

SAFE_OPTIONS: dict[str, str] = {
    # never ask for an e-mail address on stdin: `make dashboard` in a script has no terminal
    "server.showEmailPrompt": "false",
    # dashboards run next to experiment data and must not phone home
    "browser.gatherUsageStats": "false",
    # analysts view results; the Deploy button and developer menu are for app authors
    "client.toolbarMode": "viewer",
    "server.fileWatcherType": "none",
}
"""Streamlit options every ``shoplab dashboard`` sets, whatever the user's own config says."""


def streamlit_command(port: int, headless: bool, host: str = DEFAULT_HOST) -> list[str]:
    """The ``streamlit run`` command line the CLI (and the browser test) start.

    It binds ``host`` (loopback unless the user names another address) and sets
    :data:`SAFE_OPTIONS`; ``headless`` only decides whether Streamlit opens a browser tab.
    """
    options = {
        "server.port": str(port),
        "server.address": host,
        "server.headless": "true" if headless else "false",
        **SAFE_OPTIONS,
    }
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        *(arg for name, value in options.items() for arg in (f"--{name}", value)),
    ]


def _check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise typer.BadParameter(f"--port == {port}, must be in [1, 65535].")
    return port


def _check_host(host: str) -> str:
    if not host.strip() or any(c.isspace() for c in host):
        raise typer.BadParameter(f"--host == {host!r}, must be an address or a host name.")
    return host


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def demo_experiments() -> Path | None:
    """The demo's config set (``<root>/demo/experiments``) when ``$SHOPLAB_EXPERIMENTS`` is unset.

    ``make demo`` analyzes its rank experiment with variants that deploy the models it trained,
    from configs it writes under the data root; the dashboard on that root shows those configs
    (and so which model each arm serves), not the packaged ones the scorecards were not made
    from. An explicit ``$SHOPLAB_EXPERIMENTS`` always wins.
    """
    from shoplab.core.paths import data_root
    from shoplab.core.settings import settings

    configured = settings().experiments
    if configured is not None and configured != Path():
        return None
    folder = data_root() / "demo" / "experiments"
    return folder if (folder / "layers.yaml").is_file() else None


def register(app: typer.Typer) -> None:
    """Add this area's commands to the ``shoplab`` app."""

    @app.command("dashboard")
    def dashboard(
        port: int = typer.Option(8501, "--port", callback=_check_port, help="Port to serve on."),
        host: str = typer.Option(
            DEFAULT_HOST,
            "--host",
            callback=_check_host,
            help="Address to listen on (0.0.0.0: every interface, with no login).",
        ),
        headless: bool = typer.Option(
            False, "--headless", help="Do not open a browser (implied without a terminal)."
        ),
    ) -> None:
        """Open the experiment dashboard (Streamlit) on $SHOPLAB_DATA."""
        from shoplab.core.paths import data_root

        typer.echo(f"shoplab dashboard on http://{host}:{port} (data root {data_root()})")
        demo = demo_experiments()
        if demo is not None:  # inherited by the Streamlit process below
            os.environ["SHOPLAB_EXPERIMENTS"] = str(demo)
            typer.echo(
                f"experiments: the demo's configs, {demo} (set SHOPLAB_EXPERIMENTS to override)"
            )
        if not _is_loopback(host):
            typer.echo(
                f"warning: --host == {host!r} is reachable from the network and the dashboard "
                "has no login: anyone who reaches it sees every experiment.",
                err=True,
            )
        # without a terminal (a script, a service) there is no one to open a browser for
        cmd = streamlit_command(port, headless or not sys.stdin.isatty(), host)
        sys.stdout.flush()
        # Replace this process rather than wrap it: Ctrl-C, `kill` and service managers then reach
        # the server directly instead of leaving an orphaned Streamlit behind.
        os.execv(cmd[0], cmd)
