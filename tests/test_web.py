"""Tests for basewatch.web: the JSON API, the token-guarded writes and the HTML pages."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="basewatch.web needs the [web] extra (fastapi)")
pytest.importorskip("httpx", reason="fastapi.testclient needs httpx (dev extra)")

from fastapi.testclient import TestClient  # noqa: E402

from basewatch.report.html import POSTURES  # noqa: E402
from basewatch.web import create_app  # noqa: E402

TOKEN = "s3cret-token-for-tests"
SITES = {"khmeimim", "tartus"}


def scenario_db(factory: pytest.TempPathFactory) -> Path:
    """A store filled by monitor + assess over a short simulated scenario (built once)."""
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


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scenario_db(tmp_path_factory)


@pytest.fixture(scope="module")
def client(db_file: Path) -> Iterator[TestClient]:
    with TestClient(create_app(f"sqlite:///{db_file}", simulated=True)) as c:
        yield c


@pytest.fixture
def writable(db_file: Path, tmp_path: Path) -> Iterator[TestClient]:
    """A client with a token over a private copy of the store."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(db_file, copy)
    with TestClient(create_app(f"sqlite:///{copy}", token=TOKEN)) as c:
        yield c


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _evidence(**changes: Any) -> dict[str, Any]:
    body = {
        "site_id": "tartus",
        "time": "2024-12-03T10:00:00Z",
        "source": "Maxar via press",
        "url": "https://example.org/tartus-empty-piers",
        "claim": "Piers empty; the flotilla left.",
        "kind": "imagery",
        "grade": "B2",
    }
    body.update(changes)
    return body


def _new_site(kind: str = "airbase") -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [36.0, 35.0]},
                "properties": {"id": "test-field", "name": "Test Field", "kind": kind},
            },
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [36.0, 35.0],
                            [36.002, 35.0],
                            [36.002, 35.002],
                            [36.0, 35.002],
                            [36.0, 35.0],
                        ]
                    ],
                },
                "properties": {
                    "site": "test-field",
                    "id": "apron",
                    "kind": "apron",
                    "target": "aircraft",
                },
            },
        ],
    }


# ----------------------------------------------------------------------------- reads


def test_list_sites_with_posture(client: TestClient) -> None:
    response = client.get("/api/sites")
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()}
    assert set(rows) == SITES
    for row in rows.values():
        assert row["posture"] in POSTURES
        assert 0.0 <= row["confidence"] <= 1.0
        assert 34.5 < row["lat"] < 36.0 and 35.5 < row["lon"] < 36.5
    assert "piers" in " ".join(rows["tartus"]["zones"])


def test_site_detail_has_geojson_zones(client: TestClient) -> None:
    body = client.get("/api/sites/khmeimim").json()
    assert body["name"] == "Khmeimim Air Base"
    assert body["geometry"]["type"] == "Point"
    assert {z["id"] for z in body["zones"]} >= {"main-apron"}
    assert all(z["geometry"]["type"] == "Polygon" for z in body["zones"])


def test_observations_sorted_and_filtered(client: TestClient) -> None:
    rows = client.get("/api/sites/tartus/observations").json()
    assert rows and {r["site_id"] for r in rows} == {"tartus"}
    zone = rows[0]["zone_id"]
    only = client.get("/api/sites/tartus/observations", params={"zone": zone}).json()
    assert only and {r["zone_id"] for r in only} == {zone}
    times = [r["time"] for r in only]
    assert times == sorted(times)
    assert "detections" not in only[0]
    with_det = client.get(
        "/api/sites/tartus/observations", params={"zone": zone, "detections": "true"}
    ).json()
    assert [len(r["detections"]) for r in with_det] == [r["n_detections"] for r in only]
    missing = client.get("/api/sites/tartus/observations", params={"zone": "nowhere"})
    assert missing.status_code == 404 and "nowhere" in missing.json()["detail"]


def test_unknown_query_parameters_are_refused_not_ignored(client: TestClient) -> None:
    """``?zone=`` is a filter of observations only; elsewhere, and misspelt, a query
    parameter was ignored and the whole answer looked filtered."""
    misspelt = client.get("/api/sites/tartus/observations", params={"detection": "true"})
    assert misspelt.status_code == 422
    assert misspelt.json()["detail"] == (
        "unknown query parameter 'detection' for /api/sites/{site_id}/observations; "
        "it takes detections, zone"
    )
    no_filters = client.get("/api/sites", params={"site": "tartus"})
    assert no_filters.status_code == 422 and "takes no query parameters" in no_filters.text
    assert client.get("/api/sites").status_code == 200
    page = client.get("/sites/tartus", params={"utm_source": "mail"})  # pages are lenient
    assert page.status_code == 200


def test_assessment_matches_site_list(client: TestClient) -> None:
    listed = {row["id"]: row["posture"] for row in client.get("/api/sites").json()}
    for site_id in SITES:
        body = client.get(f"/api/sites/{site_id}/assessment").json()
        assert body["site_id"] == site_id and body["posture"] == listed[site_id]
        assert body["zones"] and body["generated"]


@pytest.mark.parametrize("suffix", ["", "/observations", "/assessment", "/evidence"])
def test_unknown_site_is_404_with_known_ids(client: TestClient, suffix: str) -> None:
    response = client.get(f"/api/sites/atlantis{suffix}")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "atlantis" in detail and "khmeimim" in detail and "tartus" in detail


# ----------------------------------------------------------------------------- writes


def test_evidence_write_with_token_then_read(writable: TestClient) -> None:
    assert writable.get("/api/sites/tartus/evidence").json() == []
    first = writable.post("/api/evidence", json=_evidence(), headers=_auth())
    assert first.status_code == 201
    assert first.json()["stored"] == "added"
    again = writable.post("/api/evidence", json=_evidence(), headers=_auth())
    assert again.json()["id"] == first.json()["id"]  # idempotent
    assert (again.status_code, again.json()["stored"]) == (200, "unchanged")
    regraded = writable.post("/api/evidence", json=_evidence(grade="C3"), headers=_auth())
    assert regraded.status_code == 200 and regraded.json()["id"] == first.json()["id"]
    assert regraded.json()["stored"] == "regraded"
    assert regraded.json()["previous_grade"] == "B2"
    writable.post("/api/evidence", json=_evidence(), headers=_auth())  # back to B2
    rows = writable.get("/api/sites/tartus/evidence").json()
    assert len(rows) == 1
    assert rows[0]["time"] == "2024-12-03T10:00:00Z" and rows[0]["kind"] == "imagery"
    assert (rows[0]["claim"], rows[0]["grade"]) == ("Piers empty; the flotilla left.", "B2")
    assert writable.get("/api/sites/khmeimim/evidence").json() == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (_auth("wrong"), 403), ({"Authorization": "Basic abc"}, 401)],
)
def test_writes_need_the_right_token(
    writable: TestClient, headers: dict[str, str], status: int
) -> None:
    for path, body in (("/api/evidence", _evidence()), ("/api/sites", _new_site())):
        response = writable.post(path, json=body, headers=headers)
        assert response.status_code == status
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer"
    assert writable.get("/api/sites/tartus/evidence").json() == []
    assert "test-field" not in {r["id"] for r in writable.get("/api/sites").json()}


def test_auth_is_checked_before_the_body(writable: TestClient) -> None:
    assert writable.post("/api/evidence", json={"junk": 1}).status_code == 401
    json_type = {"Content-Type": "application/json"}
    for path in ("/api/evidence", "/api/sites"):  # a body that is not JSON: was a 422 first
        assert writable.post(path, content=b"{not json", headers=json_type).status_code == 401
    wrong = writable.post("/api/evidence", content=b"{", headers={**_auth("x"), **json_type})
    assert wrong.status_code == 403
    allowed = writable.post("/api/evidence", content=b"{", headers={**_auth(), **json_type})
    assert allowed.status_code == 422 and allowed.json()["detail"][0]["type"] == "json_invalid"


def test_writes_refused_without_configured_token(client: TestClient) -> None:
    response = client.post("/api/evidence", json=_evidence(), headers=_auth())
    assert response.status_code == 403
    assert "BASEWATCH_TOKEN" in response.json()["detail"]
    assert client.get("/api/sites/tartus/evidence").json() == []


@pytest.mark.parametrize(
    "body",
    [
        _evidence(time="2024-12-03T10:00:00"),  # no time zone
        _evidence(url="javascript:alert(1)"),
        _evidence(kind="rumour"),
        {k: v for k, v in _evidence().items() if k != "claim"},
        _evidence(grade="Z9"),
        _evidence(text="the same claim under its deprecated name"),  # claim and text
        [1, 2],
    ],
)
def test_bad_evidence_bodies_are_422(writable: TestClient, body: Any) -> None:
    assert writable.post("/api/evidence", json=body, headers=_auth()).status_code == 422


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (_evidence(time="2099-12-03T10:00:00Z"), "is in the future"),
        (_evidence(time="0001-01-01T05:00:00Z"), "is before 1900"),
        (_evidence(claim="   "), "no claim"),
        (_evidence(source="  "), "no source"),
    ],
)
def test_evidence_the_checks_refuse_is_422_not_500(
    writable: TestClient, body: Any, said: str
) -> None:
    """Past the schema, make_entry's own checks raised a bare 500 (traceback in the log)."""
    response = writable.post("/api/evidence", json=body, headers=_auth())
    assert response.status_code == 422 and said in response.json()["detail"]
    assert writable.get(f"/api/sites/{body['site_id']}/evidence").json() == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"site_id": "tartus", "time": "2024-12-03T10:00:00Z", "source": "s", "kind": "post",'
        ' "claim": "c", "grade": NaN}',
        '{"site_id": "tartus", "time": "2024-12-03T10:00:00Z", "source": "s", "kind": "post",'
        ' "claim": "\\ud800 lone surrogate", "grade": "B2"}',
        '{"site_id": "tartus", "time": "2024-12-03T10:00:00Z", "source": "s", "kind": "post",'
        ' "claim": "' + "x" * 2_000_000 + '", "grade": "B2"}',
    ],
    ids=["nan", "surrogate", "2-MB-claim"],
)
def test_odd_evidence_bodies_get_a_short_json_error(writable: TestClient, raw: str) -> None:
    """Each was a bare 500 or a 422 echoing the whole body; now a short JSON 4xx."""
    response = writable.post(
        "/api/evidence",
        content=raw.encode("utf-8", "surrogatepass"),
        headers={**_auth(), "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text[:300]
    assert len(response.content) < 5000 and "detail" in response.json()
    assert writable.get("/api/sites/tartus/evidence").json() == []


def test_evidence_for_unknown_site_is_404(writable: TestClient) -> None:
    response = writable.post("/api/evidence", json=_evidence(site_id="atlantis"), headers=_auth())
    assert response.status_code == 404 and "atlantis" in response.json()["detail"]


def test_post_sites_validates_and_stores(writable: TestClient) -> None:
    bad = writable.post("/api/sites", json=_new_site(kind="castle"), headers=_auth())
    assert bad.status_code == 422 and "castle" in bad.json()["detail"]
    not_fc = writable.post("/api/sites", json={"type": "Feature"}, headers=_auth())
    assert not_fc.status_code == 422
    unserveable = _new_site()
    for feature in unserveable["features"]:
        feature["properties"]["site" if "site" in feature["properties"] else "id"] = "../x"
    slash = writable.post("/api/sites", json=unserveable, headers=_auth())
    assert slash.status_code == 422 and "holds a slash" in slash.json()["detail"]
    ok = writable.post("/api/sites", json=_new_site(), headers=_auth())
    assert ok.status_code == 201 and ok.json() == {"sites": ["test-field"]}
    stored = writable.get("/api/sites/test-field").json()
    assert [z["id"] for z in stored["zones"]] == ["apron"] and stored["posture"] == "unknown"
    page = writable.get("/sites/test-field")
    assert page.status_code == 200 and "Test Field" in page.text


def test_post_sites_never_drops_stored_zones_silently(writable: TestClient) -> None:
    """A site posted without its zone features (a rename) deleted its zones and orphaned
    their observations; now refused, nothing changed. With its zones it is updated."""
    assert writable.post("/api/sites", json=_new_site(), headers=_auth()).status_code == 201
    renamed = _new_site()
    renamed["features"] = renamed["features"][:1]
    renamed["features"][0]["properties"]["name"] = "Renamed Field"
    response = writable.post("/api/sites", json=renamed, headers=_auth())
    assert response.status_code == 422
    assert "delete its stored zones (apron)" in response.json()["detail"]
    stored = writable.get("/api/sites/test-field").json()
    assert [z["id"] for z in stored["zones"]] == ["apron"] and stored["name"] == "Test Field"
    forced = writable.post("/api/sites?replace=true", json=renamed, headers=_auth())
    assert forced.status_code == 201 and "it would delete" in forced.json()["replaced"][0]
    assert writable.get("/api/sites/test-field").json()["zones"] == []
    whole = _new_site()
    whole["features"][0]["properties"]["name"] = "Renamed Field"
    assert writable.post("/api/sites", json=whole, headers=_auth()).status_code == 201
    assert writable.get("/api/sites/test-field").json()["name"] == "Renamed Field"


# ----------------------------------------------------------------------------- pages


def test_overview_lists_sites_with_links(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for site_id, name in (("khmeimim", "Khmeimim Air Base"), ("tartus", "Tartus")):
        assert f'href="/sites/{site_id}"' in page.text
        assert name in page.text
    assert "Simulated imagery" in page.text
    data = json.loads(
        page.text.split('<script id="map-data" type="application/json">')[1].split("</script>")[0]
    )
    roles = [f["properties"]["role"] for f in data["features"]]
    assert roles.count("site") == 2 and roles.count("zone") >= 4
    assert 'src="/static/leaflet/leaflet.js"' in page.text and "https://" not in page.text


def test_vendored_leaflet_is_served(client: TestClient) -> None:
    script = client.get("/static/leaflet/leaflet.js")
    assert script.status_code == 200 and "Leaflet 1.9.4" in script.text[:300]
    assert client.get("/static/leaflet/leaflet.css").status_code == 200
    assert "BSD" in client.get("/static/leaflet/LICENSE").text
    for bad in ("bwmap.js%00.png", "..%2F..%2Fpyproject.toml", "x" * 5000):  # NUL was a 500
        assert client.get(f"/static/{bad}").status_code == 404


def test_site_page_reuses_report_charts(client: TestClient) -> None:
    page = client.get("/sites/tartus")
    assert page.status_code == 200
    assert page.text.count('<div class="bwchart"') >= 1  # the report's chart, same code
    assert '<script src="/static/uplot/uPlot.iife.min.js">' in page.text  # served, not inlined
    assert 'href="/sites/tartus/zones/piers"' in page.text  # the zone's timeline
    assert 'href="/"' in page.text and "Simulated imagery" in page.text
    assert "Khmeimim" not in page.text.split("<main>")[1]  # only this site
    assert client.get("/sites/atlantis").status_code == 404


def test_docs_are_offline(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/sites/{site_id}/evidence" in schema["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/api/evidence" in docs.text
    assert "<script" not in docs.text and "cdn" not in docs.text.lower()
    assert client.get("/redoc").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fstore.py",
        "/static/..%5capp.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/nothing.css",
    ],
)
def test_static_refuses_traversal(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "create_app" not in response.text and "root:" not in response.text


def test_static_serves_package_files(client: TestClient) -> None:
    response = client.get("/static/dashboard.css")
    assert response.status_code == 200 and "nav.bw" in response.text


def test_cli_serve_rejects_bad_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from basewatch.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", "70000"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "--port 70000" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- chips


def test_chips_are_listed_and_rendered(client: TestClient) -> None:
    chips = client.get("/api/sites/khmeimim/chips").json()
    assert {c["sensor"] for c in chips} >= {"sentinel-1", "sentinel-2", "highres"}
    site = client.get("/api/sites/khmeimim").json()
    for sensor in ("sentinel-2", "highres"):
        chip = next(c for c in chips if c["sensor"] == sensor and c["clear_fraction"] > 0.9)
        meta = client.get(chip["url"]).json()
        west, south, east, north = meta["bounds"]
        zone = next(z for z in site["zones"] if z["id"] == chip["zone_id"])
        lons = [x for x, _ in zone["geometry"]["coordinates"][0]]
        lats = [y for _, y in zone["geometry"]["coordinates"][0]]
        assert west <= min(lons) and max(lons) <= east  # the chip covers its zone
        assert south <= min(lats) and max(lats) <= north
        png = client.get(meta["png"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG") and len(png.content) > 1000


@pytest.mark.parametrize(
    "path",
    [
        "/api/sites/khmeimim/zones/main-apron/chips/nope.png",
        "/api/sites/khmeimim/zones/nowhere/chips/VHR_khmeimim_20241203",
        "/api/sites/atlantis/zones/main-apron/chips/VHR_khmeimim_20241203.png",
        "/api/sites/khmeimim/zones/main-apron/chips/..%2f..%2fcatalog.json",
        "/api/sites/khmeimim/zones/main-apron/chips/%2e%2e",
        "/api/sites/khmeimim/zones/main-apron/overlays/..%2f..%2fcatalog.json.png",
        "/api/sites/khmeimim/zones/nowhere/overlays/VHR_khmeimim_20241203",
    ],
)
def test_chip_routes_take_ids_not_paths(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "detail" in response.json()


def test_report_of_the_scenario_store(db_file: Path, tmp_path: Path) -> None:
    from basewatch.report import build_report

    built = build_report(out=tmp_path / "report.html", db=f"sqlite:///{db_file}")
    page = built.html.read_text(encoding="utf-8")
    assert set(built.sites) == SITES
    pictures = page.count('<img src="data:image/png;base64,')
    assert pictures >= 6 and page.count('<div class="bwchart"') >= 4
    assert page.count("<figcaption>before: ") >= 1 and page.count("<figcaption>after: ") >= 1
    assert 'src="http' not in page and "<script src" not in page  # opens offline
    assert "<link" not in page and "L.imageOverlay(" in page  # Leaflet and bwmap.js inlined
    assert page.count("bwSiteMap(document.getElementById(") == 4  # site + region, per site
    maps = re.findall(r'<script type="application/json" id="map-data-[^"]*">(.*?)</script>', page)
    assert len(maps) == 2
    for data in maps:
        overlays = json.loads(data)["overlays"]
        assert overlays and all(o["uri"].startswith("data:image/png;base64,") for o in overlays)


def test_site_page_map_and_pictures_like_the_report(db_file: Path, tmp_path: Path) -> None:
    from basewatch.context.threat import load_front

    front = tmp_path / "front.geojson"
    front.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "date": "2024-12-07",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "LineString",
                            "coordinates": [[36.35, 34.5], [36.35, 36.5]],
                        },
                        "properties": {"controller": "HTS"},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    app = create_app(f"sqlite:///{db_file}", fronts=[load_front(front)])
    with TestClient(app) as c:
        page = c.get("/sites/khmeimim").text
    assert '<script src="/static/leaflet/leaflet.js">' in page  # served, not inlined
    data = re.search(r'id="map-data-[^"]*">(.*?)</script>', page, re.DOTALL)
    assert data is not None
    decoded = json.loads(data.group(1))
    assert {o["zone_id"] for o in decoded["overlays"]} == {
        "main-apron",
        "transport-apron",
        "s400-position",
    }
    roles = [f["properties"]["role"] for f in decoded["features"]["features"]]
    assert roles.count("zone") == 3 and "front" in roles and roles.count("ring") >= 5
    assert "BM-30 Smerch" in page and "<figcaption>before: " in page  # before/after chips
    # a front that cannot be read stops 'serve' before it listens
    from basewatch.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--db", f"sqlite:///{db_file}", "--front", str(tmp_path / "none.geojson")])
    assert exit_info.value.code == 1


def test_map_overlay_routes(client: TestClient) -> None:
    chips = client.get("/api/sites/khmeimim/chips").json()
    chip = next(c for c in chips if c["sensor"] == "sentinel-2" and c["clear_fraction"] > 0.9)
    base = f"/api/sites/khmeimim/zones/{chip['zone_id']}"
    plain = client.get(f"{base}/chips/{chip['scene_id']}").json()
    meta = client.get(f"{base}/overlays/{chip['scene_id']}").json()
    west, south, east, north = meta["bounds"]
    # the warped grid covers the rotated UTM chip's extent to within a 10 m pixel (~1e-4 deg)
    pw, ps, pe, pn = plain["bounds"]
    assert west == pytest.approx(pw, abs=1e-4) and east == pytest.approx(pe, abs=1e-4)
    assert south == pytest.approx(ps, abs=1e-4) and north == pytest.approx(pn, abs=1e-4)
    png = client.get(meta["png"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


# ----------------------------------------------------------------------------- pages for people


def test_browser_gets_an_html_404_with_a_link_home(client: TestClient) -> None:
    html = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    for path in ("/sites/nowhere", "/sites/tartus/zones/nowhere", "/no/such/page"):
        page = client.get(path, headers=html)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "<a href='/' id='home'>" in page.text and "Not found" in page.text
        assert "&lt;" not in path and path in page.text
    assert "nowhere" in client.get("/sites/nowhere", headers=html).text
    assert "known sites: khmeimim, tartus" in client.get("/sites/nowhere", headers=html).text
    # the API keeps JSON, even for a browser
    api = client.get("/api/sites/nowhere", headers=html)
    assert api.status_code == 404 and "nowhere" in api.json()["detail"]
    assert client.get("/sites/nowhere").json()["detail"].startswith("no site 'nowhere'")
    evil = client.get("/sites/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers=html)
    assert evil.status_code == 404 and "<script>" not in evil.text


def test_zone_timeline_lists_every_observation(client: TestClient) -> None:
    stored = client.get("/api/sites/tartus/observations", params={"zone": "piers"}).json()
    page = client.get("/sites/tartus/zones/piers", params={"date": "2024-12-03"})
    assert page.status_code == 200
    rows = re.findall(r'<tr class="obs[^"]*" data-index="(\d+)" data-date="([^"]+)"', page.text)
    assert len(rows) == len(stored) and [d for _, d in rows] == sorted(
        o["time"][:10] for o in stored
    )
    state = json.loads(
        re.search(r'id="timeline-data">(.*?)</script>', page.text, re.DOTALL).group(1)  # type: ignore[union-attr]
    )
    current = state["observations"][state["selected"]]
    assert current["date"] == "2024-12-03"  # the deep link's date
    assert current["png"] == f"/api/sites/tartus/zones/piers/chips/{current['scene_id']}.png"
    assert client.get(current["png"]).headers["content-type"] == "image/png"
    # count and boxes from the store; judgement from the assessment
    by_scene = {(o["scene_id"], o["sensor"]): o for o in stored}
    for row in state["observations"]:
        obs = by_scene[(row["scene_id"], row["sensor"])]
        assert row["n_detections"] == obs["n_detections"]
        if obs["value"] is not None:
            assert row["count_text"] == f"{obs['value']:g}"
    # side by side: only the same sensor; a date without an observation says so
    both = client.get(
        "/sites/tartus/zones/piers", params={"date": "2024-11-29", "compare": "2024-12-03"}
    )
    state = json.loads(
        re.search(r'id="timeline-data">(.*?)</script>', both.text, re.DOTALL).group(1)
    )  # type: ignore[union-attr]
    a, b = (state["observations"][state[k]] for k in ("selected", "compared"))
    assert a["sensor"] == b["sensor"] and b["date"] == "2024-12-03"
    assert "no observation on 2024-11-29; the nearest is" in both.text
    bad = client.get("/sites/tartus/zones/piers", params={"sensor": "landsat"})
    assert bad.status_code == 200 and "sensor &#39;landsat&#39; has no observation" in bad.text
