"""Feast's own servers over the shoplab repo, as its users run them (issue 12).

``feast serve`` must answer both feature services (with and without ``full_feature_names``) with
the values ``shoplab.ranking_features`` gives, and serve an expired row as null with a
non-PRESENT status; ``feast ui`` must start and serve its page. Each server is a real subprocess on
a free 127.0.0.1 port, waited for with a bound and always stopped (its whole process group).

The event log ends today: ``feast serve`` judges ttl at the wall clock, so the world must be fresh
now for its values to be served at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import shoplab.features as sf
from shoplab.core.paths import using_data_root
from shoplab.features.repo import repo_path
from tests.eventlog import write_events
from tests.features.pushes import push_short_term, served_clicks_1h, short_term_row
from tests.servers import free_port, wait_for_http

pytestmark = pytest.mark.e2e

PROJECT = repo_path().parent
FEAST = str(Path(sys.executable).parent / "feast")
CHROMIUM = Path("/usr/bin/chromium")
STARTUP_S = 90  # importing Feast + the repo on a loaded 2-core box: ~10 s, 40 s seen under load


@pytest.fixture(scope="module")
def fresh_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Events of the last 5 days (today included), built, applied, materialized up to now."""
    root = tmp_path_factory.mktemp("fresh") / "data"
    root.mkdir()
    today = datetime.now(UTC).date()
    with using_data_root(root):
        write_events(users=120, items=80, days=5, seed=3, start=today - timedelta(days=4))
        sf.build_features()
        sf.apply_repo()
        sf.materialize(datetime.now(UTC))
    return root


class Server:
    """A Feast server subprocess in its own process group."""

    def __init__(self, args: list[str], root: Path, log: Path, health: str) -> None:
        """Start ``feast -c feature_repo <args>`` and wait until ``health`` answers 200."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "SHOPLAB_DATA": str(root)}
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [FEAST, "-c", "feature_repo", *args, "--host", "127.0.0.1", "-p", str(self.port)],
                cwd=PROJECT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: workers are stopped with it
            )
        try:
            self._wait(health)
        except BaseException:
            self.stop()
            raise

    def _wait(self, health: str) -> None:
        wait_for_http(self.base + health, self.proc, STARTUP_S, self.log.read_text)

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """POST JSON; return (status, decoded body)."""
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def stop(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after 15 s)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def serve(fresh_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``feast serve`` on the fresh root."""
    server = Server(
        ["serve"], fresh_root, tmp_path_factory.mktemp("serve") / "serve.log", "/health"
    )
    try:
        yield server
    finally:
        server.stop()


def _served(
    server: Server, service: str, entities: dict[str, list[Any]], full: bool
) -> dict[str, Any]:
    status, body = server.post(
        "/get-online-features",
        {"feature_service": service, "entities": entities, "full_feature_names": full},
    )
    assert status == 200, (service, full, body)
    names = body["metadata"]["feature_names"]
    assert len(names) == len(set(names)), names  # every value has a name of its own
    return {n: r for n, r in zip(names, body["results"], strict=True)}


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    return a == b


@pytest.mark.parametrize("service", ["ranker_v1", "ranker_v2"])
def test_feast_serve_answers_both_services_as_ranking_features(
    serve: Server, fresh_root: Path, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    monkeypatch.setenv("SHOPLAB_DATA", str(fresh_root))
    items = pl.read_parquet(fresh_root / "events/items/*.parquet")
    yesterday = datetime.combine(date.today(), datetime.min.time(), tzinfo=UTC)
    old_items = items.filter(pl.col("created_ts") < yesterday - timedelta(days=1))
    candidates: list[int] = old_items["item_id"].head(20).to_list()
    request = {"query": "mens fashion"} if service == "ranker_v2" else None
    ours = sf.ranking_features(5, candidates, service, request, as_of=datetime.now(UTC))
    entities: dict[str, list[Any]] = {
        "user_id": [5] * len(candidates),
        "item_id": candidates,
        "shop_id": ours["shop_id"].to_list(),
    }
    if service == "ranker_v2":
        entities |= {"category": ours["category"].to_list(), "query": ["mens fashion"] * 20}
    feature_columns = [c for c in ours.columns if "__" in c and not c.endswith("__stale")]
    assert not ours.select(pl.col("^.*__stale$")).to_numpy().any()  # fresh: values to compare
    for full in (True, False):
        got = _served(serve, service, entities, full)
        compared = 0
        for column in feature_columns:
            name = column if full else column.split("__", 1)[1]
            served = got[name]
            want = ours[column].to_list()
            assert all(map(_same, served["values"], want)), (full, column)
            present = [st == "PRESENT" for st, v in zip(served["statuses"], want, strict=True)]
            assert all(p for p, v in zip(present, want, strict=True) if v is not None), column
            compared += sum(v is not None for v in want)
        assert compared > 20 * 20, (full, compared)  # real values, not nulls on both sides


def test_feast_serve_returns_an_expired_row_as_null(
    serve: Server, fresh_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """feast #6821: Feast itself applies no ttl online; the online store class does."""
    monkeypatch.setenv("SHOPLAB_DATA", str(fresh_root))
    entities = {"user_id": [7]}
    old = datetime.now(UTC) - timedelta(hours=3)  # user_short_term's ttl is 2 h
    push_short_term(short_term_row(7, old))
    after = served_clicks_1h(serve, entities)
    assert after["values"] == [None]
    assert after["statuses"] != ["PRESENT"]
    # a fresh push is served at once
    push_short_term(
        short_term_row(7, datetime.now(UTC)).with_columns(
            created_timestamp=pl.lit(old, pl.Datetime("us", "UTC"))
        )
    )
    fresh = served_clicks_1h(serve, entities)
    assert (fresh["values"], fresh["statuses"]) == ([41], ["PRESENT"])


@pytest.mark.slow  # ~16 s: the Feast UI server starts and builds its page
def test_feast_ui_starts_and_serves_its_page(
    fresh_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = Server(["ui"], fresh_root, tmp_path_factory.mktemp("ui") / "ui.log", "/")
    try:
        with urllib.request.urlopen(server.base + "/", timeout=10) as resp:
            page = resp.read().decode()
        assert "<html" in page.lower()
        with urllib.request.urlopen(server.base + "/projects-list.json", timeout=10) as resp:
            projects = json.loads(resp.read())
        assert [p["id"] for p in projects["projects"]] == ["shoplab"]
        if CHROMIUM.exists():
            _browser_loads(server.base)
    finally:
        server.stop()


def _browser_loads(base: str) -> None:
    """Headless Chromium (Debian's) opens the UI and it renders the project's views."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base + "/p/shoplab/feature-view", timeout=60_000)
            page.get_by_text("user_long_term", exact=False).first.wait_for(timeout=60_000)
            assert not errors, errors
        finally:
            browser.close()
