"""Browser test of the dashboard: Debian's Chromium driven by Playwright over a loopback server.

No browser is downloaded: Playwright launches ``/usr/bin/chromium``. The test starts
``basewatch serve``'s app with uvicorn in a thread on a free loopback port, over a store
filled from the simulated scenario, and keeps screenshots in its pytest tmp dir.
"""

from __future__ import annotations

import json
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

    charts = page.locator("div.bwchart[data-ready=true]")
    charts.first.wait_for()
    assert charts.count() >= 1
    for i in range(charts.count()):
        canvas = charts.nth(i).locator(".bwchart-focus canvas")
        box = canvas.bounding_box()
        assert box is not None and box["width"] > 600 and box["height"] > 200
        # something was drawn: the canvas is not one flat colour
        colours = canvas.evaluate(
            "c => new Set(Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height)"
            ".data.filter((_, k) => k % 4 === 0))).size"
        )
        assert colours > 10
    page.screenshot(path=str(tmp_path / "site-tartus.png"), full_page=True)

    for shot in ("overview.png", "site-tartus.png"):
        data = (tmp_path / shot).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    assert requested and all(url.startswith(server + "/") for url in requested)


def test_airbase_page_has_charts_per_zone(page: Page, server: str, tmp_path: Path) -> None:
    page.goto(server + "/sites/khmeimim")
    zones = page.locator("article.zone")
    assert zones.count() >= 2
    assert page.locator("article.zone div.bwchart").count() >= 1
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
    page.locator(".sitemap[data-mode=site]").screenshot(path=str(tmp_path / "site-map.png"))
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
    assert maps.count() == 4  # a site map and a regional map per site
    tab.wait_for_function(
        "() => [...document.querySelectorAll('.sitemap')].every(m => m.dataset.ready === 'true')"
        " && [...document.querySelectorAll('.sitemap img.leaflet-image-layer')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    khmeimim = tab.locator(".sitemap[data-mode=site]").first
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

    region = tab.locator(".sitemap[data-mode=region]").first
    rings = region.locator("path.leaflet-interactive[stroke-dasharray='4 4']")
    assert rings.count() >= 5
    region.screenshot(path=str(tmp_path / "report-map-front.png"))
    assert errors == []
    assert refused == []  # nothing was even attempted outside the file
    assert all(url.startswith(("file://", "data:")) for url in requested)
    for shot in ("report-map.png", "report-map-front.png"):
        data = (tmp_path / shot).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5_000
    context.close()


# ----------------------------------------------------------------------------- issue 18


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scenario from September to December 2024 (the withdrawal is significant
    against three months of history), monitored and assessed: its store file."""
    from basewatch import pipeline
    from basewatch.scenario import build_scenario

    root = tmp_path_factory.mktemp("demo-autumn")
    paths = build_scenario(root / "scenario", start=date(2024, 9, 1), end=date(2024, 12, 20))
    db = f"sqlite:///{root / 'basewatch.db'}"
    pipeline.monitor(paths.sites, paths.catalog, db=db, start="2024-09-01", end="2024-12-20")
    pipeline.assess(db=db, tracks=paths.tracks)
    return root / "basewatch.db"


@pytest.fixture(scope="module")
def offline_report(demo_store: Path) -> Path:
    """The report of :func:`demo_store` with the demo's fronts (built once)."""
    from basewatch.pipeline import demo_fronts
    from basewatch.report import build_report

    out = demo_store.parent / "report.html"
    return build_report(out=out, db=f"sqlite:///{demo_store}", fronts=demo_fronts()).html


@pytest.fixture
def offline(browser: Browser, offline_report: Path) -> Iterator[Page]:
    """A tab on the report file with every request other than file:// and data: refused."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    refused: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(("file://", "data:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(offline_report.resolve().as_uri())
    tab.wait_for_function(
        "() => [...document.querySelectorAll('.bwchart')].every(c => c.dataset.ready === 'true')"
        " && [...document.querySelectorAll('.sitemap')].every(m => m.dataset.ready === 'true')"
    )
    yield tab
    assert errors == [] and refused == []
    context.close()


def test_header_indicator_table_and_chips_agree(offline: Page, demo_store: Path) -> None:
    """Item 1: per zone, the header, the site's indicator and the changes table say the same
    numbers, and each chip's count is the assessment's count of that scene."""
    from basewatch.store import open_store

    store = open_store(f"sqlite:///{demo_store}")
    try:
        payload = store.latest_assessment()
    finally:
        store.close()
    assert payload is not None
    values = {
        (z["zone_id"], o["scene_id"], o["sensor"]): o["value"]
        for s in payload["sites"]
        for z in s["zones"]
        for o in z["observations"]
    }
    zones = offline.evaluate(
        """() => [...document.querySelectorAll('article.zone')].map(a => {
          const section = a.closest('section.site');
          const head = a.querySelector('.headline');
          return {
            zone: a.dataset.zone,
            status: a.dataset.status,
            judgement: (a.querySelector('.judgement') || {}).textContent || '',
            indicators: [...section.querySelectorAll('ul.indicators li')].map(l => l.textContent),
            head: head ? {levels: head.dataset.levels, p: head.dataset.p} : null,
            nsig: Number(a.querySelector('.n-significant-changes').textContent),
            rows: [...a.querySelectorAll('table.changes tbody tr')].map(r => ({
              levels: r.dataset.levels, p: r.dataset.p, sig: r.dataset.significant})),
            chips: [...a.querySelectorAll('figure.chip[data-scene]')].map(c => ({
              scene: c.dataset.scene, sensor: c.dataset.sensor, count: c.dataset.count,
              boxes: c.dataset.boxes})),
          };
        })"""
    )
    assert len(zones) == 4
    headlines = drops = 0
    for zone in zones:
        significant = [r for r in zone["rows"] if r["sig"] == "yes"]
        assert zone["nsig"] == len(significant), zone
        indicator = [i for i in zone["indicators"] if zone["zone"] + ": " in i]
        summary = zone["judgement"].removeprefix("Judgement:").strip()
        assert len(indicator) == 1 and summary in indicator[0], zone
        if significant:
            headlines += 1
            assert zone["head"] == {"levels": significant[-1]["levels"], "p": significant[-1]["p"]}
            if zone["status"] in {"dropped", "emptied", "rose"}:
                drops += 1
                assert zone["head"]["levels"] in indicator[0] and zone["head"]["p"] in indicator[0]
        else:
            assert zone["head"] is None
        assert len({c["sensor"] for c in zone["chips"]}) <= 1  # never two sensors side by side
        for chip in zone["chips"]:
            value = values[(zone["zone"], chip["scene"], chip["sensor"])]
            assert chip["count"] == f"{value:g}" == chip["boxes"], chip
    assert headlines >= 3 and drops >= 2  # Tartus' piers, Khmeimim's S-400 and main apron


def test_chart_zoom_and_range_selection(offline: Page, tmp_path: Path) -> None:
    """Item 3: a full-width chart, focused on the latest change, zoomable by dragging and by
    choosing a range on the overview strip or with the buttons."""
    article = offline.locator("article.zone", has=offline.locator(".headline")).first
    chart = article.locator(".bwchart")
    width = chart.bounding_box()["width"]  # type: ignore[index]
    page_width = offline.locator("main").bounding_box()["width"]  # type: ignore[index]
    assert width > 0.9 * page_width

    def shown() -> tuple[int, int]:
        low, high = chart.get_attribute("data-range").split(",")  # type: ignore[union-attr]
        return int(low), int(high)

    data = json.loads(article.locator("script[type='application/json']").text_content() or "{}")
    whole = (data["x"][0], data["x"][-1])
    focus = shown()
    assert data["focus"] and abs(focus[0] - data["focus"][0]) < 2 and focus[1] - focus[0] > 0
    chart.get_by_role("button", name="whole series").click()
    assert abs(shown()[0] - whole[0]) < 2 and abs(shown()[1] - whole[1]) < 2
    # drag across the focus chart: zoom into what was dragged over
    over = chart.locator(".bwchart-focus .u-over")
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    offline.mouse.move(box["x"] + box["width"] * 0.5, y)
    offline.mouse.down()
    offline.mouse.move(box["x"] + box["width"] * 0.75, y, steps=5)
    offline.mouse.up()
    zoomed = shown()
    assert whole[0] < zoomed[0] < zoomed[1] < whole[1]
    assert (zoomed[1] - zoomed[0]) < 0.4 * (whole[1] - whole[0])
    # select a range on the overview strip: the focus chart follows
    strip = chart.locator(".bwchart-overview .u-over")
    sbox = strip.bounding_box()
    assert sbox is not None
    sy = sbox["y"] + sbox["height"] / 2
    offline.mouse.move(sbox["x"] + sbox["width"] * 0.1, sy)
    offline.mouse.down()
    offline.mouse.move(sbox["x"] + sbox["width"] * 0.3, sy, steps=5)
    offline.mouse.up()
    chosen = shown()
    span = whole[1] - whole[0]
    assert abs(chosen[0] - (whole[0] + 0.1 * span)) < 0.03 * span
    assert abs(chosen[1] - (whole[0] + 0.3 * span)) < 0.03 * span
    chart.screenshot(path=str(tmp_path / "chart.png"))
    # the legend is legible (13 px) and names every sensor of the zone
    legend = chart.locator(".u-legend").first
    assert float(legend.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 12
    for series in data["series"]:
        if series["kind"] == "sensor":
            assert series["label"] in (legend.text_content() or "")


def test_map_context_layer_and_labels(offline: Page, tmp_path: Path) -> None:
    """Item 4: land, coastline and places under the maps, labelled zones and range rings,
    the distance to the front inside the frame."""
    site = offline.locator(".sitemap[data-mode=site]").first
    region = offline.locator(".sitemap[data-mode=region]").first
    land = region.locator(".leaflet-bwcontext-pane path")
    assert land.count() >= 2  # Syria and its neighbours
    svg = region.locator(".leaflet-bwcontext-pane svg").bounding_box()
    assert svg is not None and svg["width"] > 100
    places = [t.strip() for t in region.locator(".bw-place").all_text_contents()]
    assert "Latakia" in places and len(places) >= 5
    zones = site.locator(".bw-zone-label").all_text_contents()
    assert sorted(z.split(" — ")[0] for z in zones) == [
        "main-apron",
        "s400-position",
        "transport-apron",
    ]
    rings = " | ".join(region.locator(".bw-ring-label").all_text_contents())
    assert "BM-30 Smerch" in rings and " km" in rings
    frame = region.bounding_box()
    label = region.locator(".bw-distance-label").first
    lbox = label.bounding_box()
    assert frame is not None and lbox is not None and "km to the front of" in label.inner_text()
    line = region.locator("path.leaflet-interactive[stroke='#8e44ad'][stroke-dasharray='2 4']")
    for i in range(line.count()):
        b = line.nth(i).bounding_box()
        assert b is not None
        assert frame["x"] <= b["x"] and b["x"] + b["width"] <= frame["x"] + frame["width"] + 1
        assert frame["y"] <= b["y"] and b["y"] + b["height"] <= frame["y"] + frame["height"] + 1
    region.screenshot(path=str(tmp_path / "region.png"))


def test_home_map_is_coloured_by_posture(page: Page, server: str) -> None:
    page.goto(server + "/")
    page.locator("#map[data-ready=true]").wait_for()
    legend = page.locator(".bw-legend").inner_text()
    assert all(p in legend for p in ("present", "withdrawing", "withdrawn", "unknown"))
    fills = page.locator("#map path.leaflet-interactive[fill-opacity='0.95']").evaluate_all(
        "ps => ps.map(p => p.getAttribute('fill'))"
    )
    postures = {
        r.get_attribute("data-site-id"): r.locator(".badge").inner_text()
        for r in page.locator("tr.site-row").all()
    }
    colours = {"withdrawing": "#d35400", "withdrawn": "#c0392b", "present": "#2e7d32"}
    assert sorted(fills) == sorted(colours.get(p, "#7f8c8d") for p in postures.values())
    assert page.locator("#map .leaflet-bwcontext-pane path").count() >= 1


def test_zone_timeline_steps_and_compares(page: Page, server: str, tmp_path: Path) -> None:
    """Item 5: step through every observation, compare two dates of one sensor, deep links."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server + "/sites/tartus")
    page.get_by_role("link", name="Step through every observation of this zone →").click()
    page.wait_for_url(server + "/sites/tartus/zones/piers")
    page.locator("body[data-ready=true]").wait_for()
    rows = page.locator("tr.obs")
    n = rows.count()
    assert n > 10
    assert page.locator("tr.obs.current").get_attribute("data-index") == str(n - 1)  # latest
    page.get_by_role("button", name="previous observation").click()
    assert page.locator("tr.obs.current").get_attribute("data-index") == str(n - 2)
    assert "date=" in page.url
    page.get_by_role("button", name="next observation").click()
    assert page.locator("tr.obs.current").get_attribute("data-index") == str(n - 1)
    assert page.get_by_role("button", name="next observation").is_disabled()
    # deep link to a date, then compare with another date of the same sensor
    page.goto(server + "/sites/tartus/zones/piers?date=2024-12-03")
    page.locator("body[data-ready=true]").wait_for()
    current = page.locator("#pane-current")
    assert current.locator(".f-when").inner_text().startswith("2024-12-03")
    sensor = current.locator(".f-sensor").inner_text()
    options = page.locator("#compare option").all_text_contents()[1:]
    assert options  # only dates of the same sensor are offered
    page.locator("#compare").select_option(index=1)
    compared = page.locator("#pane-compared")
    assert compared.is_visible() and compared.locator(".f-sensor").inner_text() == sensor
    assert "compare=" in page.url
    page.wait_for_function(
        "() => [...document.querySelectorAll('.pane:not([hidden]) img.chip')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    a, b = current.bounding_box(), compared.bounding_box()
    assert a is not None and b is not None and b["x"] > a["x"] + a["width"] - 1  # side by side
    page.screenshot(path=str(tmp_path / "timeline.png"))
    # the deep link of what is shown reopens it
    page.goto(page.url)
    page.locator("body[data-ready=true]").wait_for()
    assert page.locator("#pane-compared").is_visible()
    assert all(url.startswith(server + "/") for url in requested)


def test_unknown_site_is_an_html_404_with_a_link_home(page: Page, server: str) -> None:
    """Item 7: a person gets a page, the API keeps JSON."""
    response = page.goto(server + "/sites/nowhere")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert "nowhere" in page.inner_text("body")
    page.get_by_role("link", name="← all watched sites").click()
    page.wait_for_url(server + "/")
    assert page.locator("tr.site-row").count() == 2
    api = page.goto(server + "/api/sites/nowhere")
    assert api is not None and api.status == 404
    assert json.loads(page.inner_text("body"))["detail"].startswith("no site 'nowhere'")


def test_map_tooltips_show_names_as_text_never_as_html(browser: Browser) -> None:
    """A site or zone name from a registry or POST /api/sites is text on the maps: Leaflet
    puts string tooltips in as HTML, and "<img src=x onerror=...>" ran in the dashboard."""
    static = Path(__file__).resolve().parents[1] / "basewatch" / "web" / "static"
    evil = '<img src=x onerror="window.__xss=1">Evil'
    data = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [36.0, 35.0]},
             "properties": {"role": "site", "id": "evil", "name": evil, "posture": "present",
                            "href": "/sites/evil"}},
            {"type": "Feature",
             "geometry": {"type": "Polygon", "coordinates": [[[36.0, 35.0], [36.01, 35.0],
                                                              [36.01, 35.01], [36.0, 35.0]]]},
             "properties": {"role": "zone", "id": "z", "name": evil, "href": "/sites/evil"}},
        ],
    }  # fmt: skip
    context = browser.new_context()
    tab = context.new_page()
    tab.set_content(
        "<html><head><style>"
        + (static / "leaflet" / "leaflet.css").read_text(encoding="utf-8")
        + "</style></head><body><div id='map' style='width:600px;height:400px'></div><script>"
        + (static / "leaflet" / "leaflet.js").read_text(encoding="utf-8")
        + "</script><script>"
        + (static / "bwmap.js").read_text(encoding="utf-8")
        + "</script><script>window.bwHomeMap(document.getElementById('map'), "
        + json.dumps(data)
        + ");</script></body></html>"
    )
    tab.wait_for_timeout(300)  # let a broken image's onerror run, were it HTML
    labels = tab.locator(".leaflet-tooltip").all_inner_texts()
    assert any(evil in label for label in labels), labels
    assert tab.evaluate("window.__xss") is None
    assert tab.locator(".leaflet-tooltip img").count() == 0
    context.close()
