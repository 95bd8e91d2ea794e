"""``shoplab dashboard``: options, and the command line it hands to Streamlit."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from shoplab.dashboards.cli import APP_PATH, streamlit_command
from typer.testing import CliRunner

from shoplab.cli import app


def test_help_lists_port_and_headless() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--help"])
    assert result.exit_code == 0, result.output
    assert "--port" in result.output
    assert "--headless" in result.output


def test_bad_port_is_rejected_with_the_rule() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--port", "70000"])
    assert result.exit_code != 0
    assert "70000" in result.output
    assert "65535" in result.output


def test_headless_command_binds_localhost_and_runs_the_app() -> None:
    cmd = streamlit_command(8600, headless=True)
    assert cmd[1:4] == ["-m", "streamlit", "run"]
    assert cmd[4] == str(APP_PATH)
    assert APP_PATH.is_file()
    opts = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert opts["--server.port"] == "8600"
    assert opts["--server.headless"] == "true"
    assert opts["--server.address"] == "localhost"
    assert opts["--browser.gatherUsageStats"] == "false"


def test_interactive_command_does_not_pin_an_address() -> None:
    opts = streamlit_command(8501, headless=False)[5:]
    assert "--server.address" not in opts
    assert opts[opts.index("--server.headless") + 1] == "false"


@pytest.mark.e2e
@pytest.mark.slow  # 12 s of Streamlit start-up; the browser test already serves every page
def test_shoplab_dashboard_serves_and_stops_with_its_process(data_root: Path) -> None:
    """The real command: it answers /_stcore/health, and killing it leaves no server behind."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("shoplab")
    proc = subprocess.Popen(
        [str(exe), "dashboard", "--headless", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://localhost:{port}/_stcore/health", timeout=2
                ) as r:
                    assert r.read() == b"ok"
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"no server on port {port}: {proc.communicate()[0][-2000:]}")
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    time.sleep(0.5)
    with pytest.raises(urllib.error.URLError):  # the server was this process (exec), no orphan
        urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2)
