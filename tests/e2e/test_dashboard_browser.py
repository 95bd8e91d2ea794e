"""The dashboard in a real browser: the real server, headless Chromium, every page.

Starts ``streamlit run dashboards/app.py`` (the command ``shoplab dashboard --headless`` runs) on a
free localhost port with ``$SHOPLAB_DATA`` pointing at a freshly simulated and analyzed dataset,
opens each page with Playwright, waits until the script has finished running
(``data-test-script-state="notRunning"`` on the app root, the attribute Streamlit's own e2e suite
waits on) and every chart has drawn, then checks the page's key text, that no element has
``data-testid="stException"``, and saves a full-page screenshot under
``$SHOPLAB_DATA/screenshots/``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoplab.dashboards.cli import streamlit_command
from tests.dashboards.dataset import Dataset, shared
from tests.servers import free_port, wait_for_http

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# First render imports polars/duckdb/altair and loads every scorecard: ~10 s on a busy 2-core box.
RENDER_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def e2e_data(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The session's dashboard dataset (built here when the browser test runs alone)."""
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def server(e2e_data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real Streamlit server on a free port; yields its base URL and stops it afterwards."""
    port = free_port()
    env = {**os.environ, "SHOPLAB_DATA": str(e2e_data.root)}
    log = tmp_path_factory.mktemp("streamlit_log") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            streamlit_command(port, headless=True), env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://localhost:{port}"
    try:
        wait_for_http(f"{base}/_stcore/health", proc, 60, log.read_text)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); browser test skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _wait_rendered(page: object, expected: list[str]) -> None:
    """Wait for the script run to finish, the expected text to show and every chart to draw."""
    page.wait_for_selector(  # type: ignore[attr-defined]
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=RENDER_TIMEOUT_MS
    )
    for text in expected:
        page.get_by_text(text, exact=False).first.wait_for(timeout=RENDER_TIMEOUT_MS)  # type: ignore[attr-defined]
    # Vega draws into a canvas/svg after the element mounts; a chart without one is still loading.
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                 .every(c => c.querySelector('canvas, svg'))""",
        timeout=RENDER_TIMEOUT_MS,
    )
    page.wait_for_timeout(500)  # type: ignore[attr-defined]  # last layout pass before the picture


def _pages(data: Dataset) -> list[tuple[str, str, list[str]]]:
    """(url path, query, texts that must appear) for every page, on the best-measured experiment."""
    key = max(
        sorted(data.scorecards),
        key=lambda k: sum(r.status == "ok" for r in data.scorecards[k].rows),
    )
    q = f"?experiment={key}"
    return [
        # the default page lives at the root URL (st.navigation ignores its url_path)
        ("", "", ["Experiments", "Bucket map", "Global holdout"]),
        ("scorecard", q, ["Scorecard", key, "Sample ratio", "Sequential"]),
        ("trends", q, ["Trends", key, "Cumulative"]),
        ("segments", q, ["Segments", key, "Benjamini"]),
        ("interactions", q, ["Interactions", key]),
        ("power", q, ["Power", key, "MDE"]),
        (
            "features",
            "",
            [
                "Features",
                "Entities",
                "Feature views",
                "Feature services",
                "Online store freshness",
                "Online / offline consistency",
            ],
        ),
        ("models", "", ["Models", "registered in MLflow"]),
    ]


@pytest.mark.slow  # ~40 s: every page in the browser; the other browser tests stay in make test
def test_every_page_renders_without_exceptions(
    server: str, browser: object, e2e_data: Dataset
) -> None:
    shots = e2e_data.root / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1440, "height": 2400})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    failures = []
    for path, query, expected in _pages(e2e_data):
        page.goto(f"{server}/{path}{query}")
        _wait_rendered(page, expected)
        name = path or "experiments"
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        if page.get_by_text("Page not found").count():
            failures.append(f"{name}: Streamlit says 'Page not found' for /{path}")
        if name == "experiments":
            # the table is a canvas grid; its cells are mirrored in hidden <td>s for screen readers
            grid = page.locator('[data-testid="stDataFrame"]').first
            shown = set(grid.locator('td[role="gridcell"]').all_inner_texts())
            missing = sorted(set(e2e_data.experiments) - shown)
            if missing:
                failures.append(f"experiments: table lacks {missing}")
        exceptions = page.locator('[data-testid="stException"]')
        if exceptions.count():
            failures.append(f"{path}: {exceptions.first.inner_text()[:2000]}")
    context.close()
    assert not failures, "\n".join(failures)
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(
        f"{p or 'experiments'}.png" for p, _, _ in _pages(e2e_data)
    )


def test_unknown_experiment_in_url_shows_message(server: str, browser: object) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{server}/scorecard?experiment=no_such_experiment")
    _wait_rendered(page, ["Unknown experiment"])
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "no_such_experiment" in page.locator('[data-testid="stAlert"]').first.inner_text()
    context.close()
