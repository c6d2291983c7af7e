"""Regenerate the README screenshots in docs/img/ from the demo, offline.

Usage::

    .venv/bin/python docs/make_screenshots.py [--demo DIR] [--out docs/img]

``--demo DIR``: a folder written by ``basewatch demo --out DIR`` (its ``basewatch.db`` and
``report.html`` are used as they are); without it the demo is built in a temporary folder
first (a few minutes). Screenshots are taken with Debian's Chromium (``/usr/bin/chromium``)
driven by Playwright, every request other than ``file://``, ``data:`` and the loopback
dashboard refused:

- ``report-summary.png``: the top of the report (notice, summary table);
- ``report-zone.png``: the Tartus piers zone (judgement, chart, same-sensor chips, changes);
- ``report-map.png``: Khmeimim's site and regional maps;
- ``dashboard-home.png``: ``basewatch serve``'s overview map and table;
- ``dashboard-timeline.png``: the zone timeline of Tartus' piers, two dates side by side.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(db: Path) -> tuple[str, Any]:
    """Start the dashboard over ``db`` on a loopback port; return its URL and server."""
    import uvicorn

    from basewatch.context.threat import load_front, load_weapons
    from basewatch.pipeline import demo_fronts
    from basewatch.web import create_app

    port = _free_port()
    app = create_app(
        f"sqlite:///{db}",
        simulated=True,
        fronts=[load_front(f) for f in demo_fronts()],
        weapons=load_weapons(),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.1)
    if not server.started:
        raise SystemExit(f"the dashboard did not start on 127.0.0.1:{port}")
    return f"http://127.0.0.1:{port}", server


def main() -> None:
    """Build or reuse the demo, then take the five screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, help="an existing 'basewatch demo' output folder")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    from playwright.sync_api import Route, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        demo = args.demo
        if demo is None:
            from basewatch.pipeline import run_demo

            demo = Path(tmp) / "demo"
            print(f"building the demo in {demo} ...")
            run_demo(demo)
        report, db = demo / "report.html", demo / "basewatch.db"
        for needed in (report, db):
            if not needed.exists():
                raise SystemExit(f"{needed}: missing; run 'basewatch demo --out {demo}'")
        base, server = _serve(db)
        args.out.mkdir(parents=True, exist_ok=True)
        refused: list[str] = []

        def guard(route: Route) -> None:
            url = route.request.url
            if url.startswith(("file://", "data:", base)):
                route.continue_()
            else:
                refused.append(url)
                route.abort()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route("**/*", guard)
            page = context.new_page()
            page.goto(report.resolve().as_uri())
            page.wait_for_function(
                "() => [...document.querySelectorAll('.sitemap')].every(m => m.dataset.ready)"
                " && [...document.querySelectorAll('.bwchart')].every(c => c.dataset.ready)"
            )
            page.wait_for_timeout(500)
            shots = {}
            page.screenshot(path=str(args.out / "report-summary.png"))
            shots["report-summary.png"] = "top of the report"
            page.locator("article.zone[data-zone=piers]").screenshot(
                path=str(args.out / "report-zone.png")
            )
            page.locator(".maps").first.screenshot(path=str(args.out / "report-map.png"))
            page.goto(base + "/")
            page.locator("#map[data-ready=true]").wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(args.out / "dashboard-home.png"))
            page.goto(base + "/sites/tartus/zones/piers?date=2024-11-27&compare=2024-12-03")
            page.locator("body[data-ready=true]").wait_for()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.pane:not([hidden]) img.chip')]"
                ".every(i => i.complete && i.naturalWidth > 0)"
            )
            page.screenshot(path=str(args.out / "dashboard-timeline.png"))
            browser.close()
        server.should_exit = True
        if refused:
            raise SystemExit(f"requests outside the report and the dashboard: {refused[:5]}")
    for name in (
        "report-summary.png",
        "report-zone.png",
        "report-map.png",
        "dashboard-home.png",
        "dashboard-timeline.png",
    ):
        print(f"{args.out / name}: {(args.out / name).stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
