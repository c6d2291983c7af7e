"""Browser test of the dashboard: Debian's Chromium driven by Playwright over a loopback server.

No browser is downloaded: Playwright launches ``/usr/bin/chromium``. The test starts
``basewatch serve``'s app with uvicorn in a thread on a free loopback port, over a store
filled from the simulated scenario, and keeps screenshots in its pytest tmp dir.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")

pytest.importorskip("fastapi", reason="the dashboard needs the [web] extra (fastapi)")
pytest.importorskip("uvicorn", reason="the dashboard needs the [web] extra (uvicorn)")
pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )

import uvicorn  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from basewatch.web import create_app  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def scenario_db(factory: pytest.TempPathFactory) -> Path:
    """The scenario store of tests/test_web.py (same folder, so it is built once a session)."""
    root = factory.getbasetemp() / "web-scenario"
    db_file = root / "basewatch.db"
    if (root / "ready").exists():
        return db_file
    from basewatch import pipeline
    from basewatch.scenario import build_scenario

    paths = build_scenario(root / "scenario", start=date(2024, 11, 15), end=date(2024, 12, 20))
    db = f"sqlite:///{db_file}"
    pipeline.monitor(paths.sites, paths.catalog, db=db, start="2024-11-15", end="2024-12-20")
    pipeline.assess(db=db, tracks=paths.tracks)
    (root / "ready").write_text("ok")
    return db_file


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a uvicorn server running the dashboard in a thread."""
    db_file = scenario_db(tmp_path_factory)
    port = _free_port()
    config = uvicorn.Config(
        create_app(f"sqlite:///{db_file}", simulated=True),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):  # wait up to ~20 s for startup (not a timing assertion)
        if srv.started or not thread.is_alive():
            break
        time.sleep(0.1)
    if not srv.started:
        pytest.fail(f"uvicorn did not start on 127.0.0.1:{port}")
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


def test_overview_click_site_and_plots_render(page: Page, server: str, tmp_path: Path) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(server + "/")
    rows = page.locator("tr.site-row")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.siteId)")) == [
        "khmeimim",
        "tartus",
    ]
    assert page.get_by_role("link", name="Khmeimim Air Base").is_visible()
    assert page.get_by_role("link", name="Tartus naval facility").is_visible()
    # the vendored Leaflet map: one SVG path per zone polygon and per site marker, no tiles
    page.locator("#map.leaflet-container").wait_for()
    shapes = page.locator("#map path.leaflet-interactive")
    shapes.first.wait_for()
    zones = page.evaluate(
        "JSON.parse(document.getElementById('map-data').textContent).features"
        ".filter(f => f.properties.role === 'zone').length"
    )
    assert zones >= 4 and shapes.count() == zones + 2
    assert page.locator("#map img.leaflet-tile").count() == 0
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    page.get_by_role("link", name="Tartus naval facility").click()
    page.wait_for_url(server + "/sites/tartus")
    assert page.locator("h1").inner_text() == "basewatch: Tartus naval facility"

    charts = page.locator("figure svg")
    assert charts.count() >= 1
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 50
        assert charts.nth(i).locator("path").count() > 10  # axes, markers, lines drawn
    page.screenshot(path=str(tmp_path / "site-tartus.png"), full_page=True)

    for shot in ("overview.png", "site-tartus.png"):
        data = (tmp_path / shot).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    assert requested and all(url.startswith(server + "/") for url in requested)


def test_airbase_page_has_charts_per_zone(page: Page, server: str, tmp_path: Path) -> None:
    page.goto(server + "/sites/khmeimim")
    zones = page.locator("article.zone")
    assert zones.count() >= 2
    assert page.locator("article.zone figure svg").count() >= 1
    assert page.get_by_role("note").first.inner_text().startswith("Simulated imagery")
    # the site map: zones over the latest clear chip of each zone, loaded from the chip API
    overlays = page.locator(".sitemap img.leaflet-image-layer")
    overlays.first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.sitemap img.leaflet-image-layer')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert overlays.count() >= 2
    assert page.locator(".sitemap path.leaflet-interactive").count() >= 4  # 3 zones + site
    page.locator(".sitemap").screenshot(path=str(tmp_path / "site-map.png"))
    page.get_by_role("link", name="← all sites").click()
    page.wait_for_url(server + "/")
    page.screenshot(path=str(tmp_path / "back-to-overview.png"))


def test_offline_report_map_renders(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The report file opens with every network request refused and draws its maps."""
    from basewatch.pipeline import demo_fronts
    from basewatch.report import build_report

    db_file = scenario_db(tmp_path_factory)
    built = build_report(
        out=tmp_path / "report.html", db=f"sqlite:///{db_file}", fronts=demo_fronts()
    )
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    refused: list[str] = []
    requested: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file://", "data:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    context.route("**/*", guard)
    tab = context.new_page()
    tab.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(built.html.resolve().as_uri())

    maps = tab.locator(".sitemap.leaflet-container")
    assert maps.count() == 2
    tab.wait_for_function(
        "() => [...document.querySelectorAll('.sitemap')].every(m => m.dataset.ready === 'true')"
        " && [...document.querySelectorAll('.sitemap img.leaflet-image-layer')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    khmeimim = maps.first
    # three zones, each over its latest clear image; zone outlines drawn as SVG paths
    assert khmeimim.locator("img.leaflet-image-layer").count() == 3
    zones = tab.evaluate(
        "JSON.parse(document.querySelector('script[id^=map-data-]').textContent)"
        ".features.features.filter(f => f.properties.role === 'zone').length"
    )
    assert zones == 3
    assert khmeimim.locator("path.leaflet-interactive[stroke='#f1c40f']").count() == zones
    assert khmeimim.locator("img.leaflet-tile").count() == 0
    box = khmeimim.locator("img.leaflet-image-layer").first.bounding_box()
    assert box is not None and box["width"] > 50 and box["height"] > 50
    khmeimim.screenshot(path=str(tmp_path / "report-map.png"))

    khmeimim.get_by_role("button", name="front and ranges").click()
    rings = khmeimim.locator("path.leaflet-interactive[stroke-dasharray='4 4']")
    assert rings.count() >= 5
    khmeimim.screenshot(path=str(tmp_path / "report-map-front.png"))

    assert errors == []
    assert refused == []  # nothing was even attempted outside the file
    assert all(url.startswith(("file://", "data:")) for url in requested)
    for shot in ("report-map.png", "report-map-front.png"):
        data = (tmp_path / shot).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5_000
    context.close()
