"""``shoplab dashboard``: options, and the command line it hands to Streamlit."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplab.cli import app
from shoplab.dashboards.cli import APP_PATH, SAFE_OPTIONS, streamlit_command
from tests.servers import free_port, wait_for_http


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
    # was "localhost" (which also binds ::1); issue 12: IPv4 loopback, 127.0.0.1, only
    assert opts["--server.address"] == "127.0.0.1"
    assert opts["--browser.gatherUsageStats"] == "false"


def test_interactive_command_binds_loopback_too() -> None:
    """Issue 12 reversed the old rule ("interactive runs do not pin an address"): every run
    binds 127.0.0.1 unless ``--host`` names another address."""
    opts = streamlit_command(8501, headless=False)[5:]
    assert opts[opts.index("--server.address") + 1] == "127.0.0.1"
    assert opts[opts.index("--server.headless") + 1] == "false"
    wide = streamlit_command(8501, headless=False, host="0.0.0.0")[5:]
    assert wide[wide.index("--server.address") + 1] == "0.0.0.0"


@pytest.mark.parametrize("headless", [True, False])
def test_every_command_sets_the_safe_options(headless: bool) -> None:
    cmd = streamlit_command(8501, headless=headless)
    opts = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert opts["--server.showEmailPrompt"] == "false"  # no e-mail prompt on stdin
    assert opts["--browser.gatherUsageStats"] == "false"  # no phoning home
    assert opts["--client.toolbarMode"] == "viewer"  # no Deploy button
    assert {f"--{k}": v for k, v in SAFE_OPTIONS.items()}.items() <= opts.items()


def test_bad_host_is_rejected_with_the_value() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--host", " "])
    assert result.exit_code != 0
    assert "--host == ' '" in result.output


def test_page_icon_is_drawn_locally() -> None:
    """A ``:material/...:`` page icon makes the browser fetch the favicon from fonts.gstatic.com."""
    source = APP_PATH.read_text()
    icons = re.findall(r"page_icon=([^,)]+)", source)
    assert icons == ['"🧪"']
    assert "http" not in source


@pytest.mark.e2e
@pytest.mark.slow  # 12 s of Streamlit start-up; the browser test already serves every page
def test_shoplab_dashboard_serves_and_stops_with_its_process(data_root: Path) -> None:
    """The real command: it answers /_stcore/health, and killing it leaves no server behind."""
    port = free_port()
    exe = Path(sys.executable).with_name("shoplab")
    proc = subprocess.Popen(
        [str(exe), "dashboard", "--headless", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_http(
            f"http://localhost:{port}/_stcore/health", proc, 60,
            lambda: proc.communicate()[0] if proc.poll() is not None else "",
        )
        with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=5) as r:
            assert r.read() == b"ok"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    time.sleep(0.5)
    with pytest.raises(urllib.error.URLError):  # the server was this process (exec), no orphan
        urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        table = Path("/proc/net") / name
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(addr)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


@pytest.mark.e2e
def test_dashboard_without_a_terminal_serves_on_loopback_only(data_root: Path) -> None:
    """``shoplab dashboard`` as a script runs it: no stdin, no --headless, no --host."""
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs /proc/net/tcp to list listening sockets")
    port = free_port()
    exe = Path(sys.executable).with_name("shoplab")
    proc = subprocess.Popen(
        [str(exe), "dashboard", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_http(
            f"http://127.0.0.1:{port}/_stcore/health", proc, 60,
            lambda: proc.communicate()[0] if proc.poll() is not None else "",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as r:
            assert r.read() == b"ok"
        assert _listening_addresses(port) == {"127.0.0.1"}
        # the process is Streamlit itself (exec): its command line is the configuration it runs
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[:-1]
        args = [a.decode() for a in argv]
        opts = dict(zip(args[5::2], args[6::2], strict=True))
        assert opts["--server.address"] == "127.0.0.1"
        assert opts["--server.headless"] == "true"  # no terminal: no browser tab to open
        assert {f"--{k}": v for k, v in SAFE_OPTIONS.items()}.items() <= opts.items()
    finally:
        proc.terminate()
        output = proc.communicate(timeout=15)[0]
    assert "Email" not in output  # Streamlit's first-run prompt never showed
    assert "Traceback" not in output


def test_the_dashboard_reads_the_demos_configs_unless_told_otherwise(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplab.dashboards.cli import demo_experiments

    monkeypatch.delenv("SHOPLAB_EXPERIMENTS", raising=False)
    assert demo_experiments() is None  # no demo run on this root
    folder = data_root / "demo" / "experiments"
    folder.mkdir(parents=True)
    (folder / "layers.yaml").write_text("layers: [recall, prerank, rank, mix]\n")
    assert demo_experiments() == folder
    monkeypatch.setenv("SHOPLAB_EXPERIMENTS", str(data_root / "mine"))
    assert demo_experiments() is None  # an explicit setting wins
