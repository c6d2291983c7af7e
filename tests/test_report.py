"""Tests for basewatch.report: the self-contained HTML report."""

from __future__ import annotations

import copy
import io
import os
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from shapely.geometry import Point, box, shape

from basewatch.errors import InputError
from basewatch.report import render_report, write_report
from basewatch.sites import Site, Zone

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class _Checker(HTMLParser):
    """Collects tags, attributes and text; checks that elements nest and close properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._record(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._record(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def _record(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.append((tag, name, value))
            if name == "id" and value is not None and tag not in _SVG_TAGS:
                self.ids.append(value)


_SVG_TAGS = {
    "svg",
    "g",
    "path",
    "defs",
    "clippath",
    "use",
    "rect",
    "text",
    "style",
    "tspan",
    "metadata",
    "polyline",
    "line",
}


def _parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.doctype.lower() == "doctype html"
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == [], f"unclosed elements: {checker.stack}"
    return checker


# --------------------------------------------------------------------------- realistic input


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _series(
    rng: np.random.Generator,
    *,
    level: float,
    after_level: float,
    change_at: datetime,
    sensor: str,
    start: datetime,
    every_days: int,
    cloudy_share: float,
) -> list[dict[str, Any]]:
    """Observations of one sensor: Poisson counts around ``level`` then ``after_level``."""
    out = []
    t = start
    while t < datetime(2024, 12, 20, tzinfo=UTC):
        clear = 1.0 if sensor == "sentinel-1" else float(rng.uniform(0, 1))
        cloudy = sensor != "sentinel-1" and rng.uniform() < cloudy_share
        clear = round(min(clear, 0.3) if cloudy else max(clear, 0.7), 2)
        mean = level if t < change_at else after_level
        value = int(rng.poisson(mean)) if clear > 0.05 else None
        significant = value is not None and t >= change_at and abs(value - level) > 2
        out.append(
            {
                "time": _iso(t),
                "sensor": sensor,
                "scene_id": f"{sensor[:2].upper()}_{t:%Y%m%d}",
                "value": value,
                "clear_fraction": clear,
                "expected": level,
                "usual": [
                    float(stats.poisson.ppf(0.005, level)),
                    float(stats.poisson.isf(0.005, level)),
                ],
                "p_value": 0.001 if significant else 0.4,
                "significant": significant,
                "conclusive": clear >= 0.5,
            }
        )
        t += timedelta(days=every_days, hours=float(rng.integers(-3, 4)))
    return out


@pytest.fixture
def assessment() -> dict[str, Any]:
    """Two sites as in December 2024: Tartus withdrawing, Khmeimim reduced."""
    rng = np.random.default_rng(20241208)
    start = datetime(2024, 10, 1, 8, 20, tzinfo=UTC)
    departure = datetime(2024, 12, 2, tzinfo=UTC)
    piers = _series(
        rng,
        level=6,
        after_level=0.2,
        change_at=departure,
        sensor="sentinel-1",
        start=start,
        every_days=6,
        cloudy_share=0,
    ) + _series(
        rng,
        level=6,
        after_level=0.2,
        change_at=departure,
        sensor="sentinel-2",
        start=start + timedelta(days=2),
        every_days=5,
        cloudy_share=0.3,
    )
    anchorage = _series(
        rng,
        level=1,
        after_level=1,
        change_at=departure,
        sensor="sentinel-1",
        start=start,
        every_days=6,
        cloudy_share=0,
    )
    apron = _series(
        rng,
        level=12,
        after_level=5,
        change_at=datetime(2024, 12, 9, tzinfo=UTC),
        sensor="sentinel-2",
        start=start,
        every_days=5,
        cloudy_share=0.35,
    )
    apron += _series(
        rng,
        level=12,
        after_level=5,
        change_at=datetime(2024, 12, 9, tzinfo=UTC),
        sensor="highres",
        start=start + timedelta(days=11),
        every_days=20,
        cloudy_share=0,
    )
    return {
        "generated": "2024-12-20T06:00:00Z",
        "as_of": "2024-12-19T08:20:00Z",
        "sites": [
            {
                "site_id": "tartus",
                "name": "Tartus Naval Base",
                "posture": "withdrawing",
                "confidence": 0.9,
                "indicators": [
                    "piers: ship count fell from 6 to 0 between 2024-12-01 and 2024-12-03",
                    "no warship at the piers on 4 consecutive radar passes",
                    "anchorage unchanged",
                    "flotilla reported at sea off Tartus on 2024-12-03",
                ],
                "zones": [
                    {
                        "zone_id": "piers",
                        "metric": "ship_count",
                        "observations": piers,
                        "changes": [
                            {
                                "after": "2024-12-01",
                                "before": "2024-12-03",
                                "direction": "down",
                                "from": 6,
                                "to": 0,
                                "significant": True,
                            }
                        ],
                    },
                    {
                        "zone_id": "anchorage",
                        "metric": "ship_count",
                        "observations": anchorage,
                        "changes": [],
                    },
                ],
            },
            {
                "site_id": "khmeimim",
                "name": "Khmeimim Air Base",
                "posture": "reduced",
                "confidence": 0.62,
                "indicators": ["main apron: aircraft count down from 12 to 5"],
                "zones": [
                    {
                        "zone_id": "main-apron",
                        "metric": "aircraft_count",
                        "observations": apron,
                        "changes": [
                            {
                                "after": "2024-12-07T08:20:00Z",
                                "before": "2024-12-10T08:25:00Z",
                                "direction": "down",
                                "from": 12,
                                "to": 5,
                                "significant": True,
                            }
                        ],
                    },
                    {"zone_id": "helipad", "metric": "aircraft_count"},
                ],
            },
        ],
    }


@pytest.fixture
def registry() -> list[Site]:
    khmeimim = Site(
        id="khmeimim",
        name="Khmeimim Air Base",
        kind="airbase",
        operator="RU",
        country="SY",
        geometry=Point(35.9486, 35.4011),
        zones=(
            Zone(
                site_id="khmeimim",
                id="main-apron",
                kind="apron",
                target="aircraft",
                name="Main combat-aircraft apron",
                geometry=box(35.952, 35.403, 35.958, 35.405),
            ),
        ),
        properties={"sources": ["https://en.wikipedia.org/wiki/Khmeimim_Air_Base"]},
    )
    latakia = Site(
        id="latakia-port", name="Latakia Port", kind="naval_base", geometry=Point(35.77, 35.52)
    )
    return [khmeimim, latakia]


# --------------------------------------------------------------------------- tests


def test_report_is_valid_and_complete(assessment: dict[str, Any], registry: list[Site]) -> None:
    page = render_report(assessment, sites=registry)
    checker = _parse(page)
    text = " ".join(" ".join(checker.text).split())
    assert "Tartus Naval Base" in text and "Khmeimim Air Base" in text
    assert "withdrawing" in text and "reduced" in text
    assert "90 %" in text and "62 %" in text
    # one chart per zone with usable observations (helipad has none)
    assert page.count('<div class="bwchart"') == 3
    assert "No usable observation in this zone yet." in text
    # the change tables carry the brackets
    assert "2024-12-01" in text and "2024-12-03" in text and "↓ down" in text
    assert "2024-12-07 08:20 UTC" in text
    # posture badges carry the posture class
    assert 'class="badge posture-withdrawing"' in page
    assert 'class="badge posture-reduced"' in page
    # registry details and the unassessed site
    assert "Main combat-aircraft apron" in text
    assert "35.4011° N, 35.9486° E" in text
    assert "Latakia Port" in text and "without an assessment" in text
    # method section, times
    assert "Method and limits" in text
    assert "2024-12-20 06:00 UTC" in text and "2024-12-19 08:20 UTC" in text
    # summary links point at sections that exist
    anchors = {v[1:] for t, n, v in checker.attrs if t == "a" and n == "href" and v}
    assert anchors and anchors <= set(checker.ids)
    assert len(checker.ids) == len(set(checker.ids))


def _charts(page: str) -> list[dict[str, Any]]:
    """The data of every zone chart of a page."""
    import json

    found = re.findall(
        r'<script type="application/json" id="chart-data-[^"]+">(.*?)</script>', page
    )
    return [json.loads(text) for text in found]


def test_chart_marks_conclusive_hollow_and_significant(assessment: dict[str, Any]) -> None:
    raw = assessment["sites"][0]["zones"][0]
    page = render_report({"sites": [assessment["sites"][0]]})
    chart = _charts(page)[0]  # the piers
    series = {s["label"]: s for s in chart["series"]}
    assert {"sentinel-1", "sentinel-2", "sentinel-2 (not conclusive)", "significant"} <= set(series)
    assert any(label.startswith("expected") for label in series)
    x = chart["x"]
    assert x == sorted(x) and all(len(s["values"]) == len(x) for s in chart["series"])
    # each observation is in exactly one of its sensor's two series, ringed when significant
    for obs in raw["observations"]:
        if obs["value"] is None:
            continue
        i = x.index(datetime.fromisoformat(obs["time"].replace("Z", "+00:00")).timestamp())
        filled = series[obs["sensor"]]["values"][i]
        hollow = series.get(f"{obs['sensor']} (not conclusive)", {"values": [None] * len(x)})
        assert (filled, hollow["values"][i]) == (
            (obs["value"], None) if obs["conclusive"] else (None, obs["value"])
        )
        assert (series["significant"]["values"][i] is not None) == obs["significant"]
    # the change window is labelled with its levels and p-value, and focused on
    (change,) = chart["changes"]
    assert change["label"].startswith("6 -> 0") and change["significant"]
    assert (
        chart["focus"]
        and chart["focus"][0] < change["after"] < change["before"] <= chart["focus"][1]
    )


def test_untrusted_strings_are_escaped(assessment: dict[str, Any]) -> None:
    evil = copy.deepcopy(assessment)
    evil["sites"][0]["name"] = '<script>alert("x")</script>'
    evil["sites"][0]["indicators"].append('<img src="https://evil.example/x.png">')
    evil["sites"][0]["zones"][0]["zone_id"] = "<b>piers</b>"
    evil["sites"][0]["zones"][0]["observations"][0]["sensor"] = "<script>s1</script>$x$"
    evil["sites"][1]["posture"] = '"><script>'
    page = render_report(evil, title="<i>title</i>")
    assert "<script>alert" not in page.lower() and "<script>s1" not in page.lower()
    assert "<img" not in page and "<b>piers" not in page and "<i>title" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "\\u003cscript\\u003es1\\u003c/script\\u003e$x$" in page  # chart data, escaped
    assert any(s["label"] == "<script>s1</script>$x$" for s in _charts(page)[0]["series"])
    checker = _parse(page)
    assert any('<script>alert("x")</script>' in t for t in checker.text)
    # unknown posture shown as given but with the neutral badge
    assert 'class="badge posture-unknown"' in page


def test_no_external_resources(assessment: dict[str, Any], registry: list[Site]) -> None:
    page = render_report(assessment, sites=registry)
    checker = _parse(page)
    for tag, name, value in checker.attrs:
        if name in {"src", "href", "xlink:href", "action", "srcset", "poster", "data"}:
            assert value is not None and not re.match(r"\s*(https?:)?//", value), (tag, value)
    assert not {"link", "img", "iframe"} & set(checker.tags)
    assert not [v for t, n, v in checker.attrs if t == "script" and n == "src"]  # inlined
    assert "url(http" not in page and "@import" not in page
    # the source link stays as plain text
    assert "https://en.wikipedia.org/wiki/Khmeimim_Air_Base" in " ".join(checker.text)


def test_empty_assessment_says_nothing_is_watched() -> None:
    page = render_report({"generated": "2024-12-20T06:00:00Z", "sites": []})
    checker = _parse(page)
    text = " ".join(" ".join(checker.text).split())
    assert "No sites are watched" in text
    assert "bwchart" not in page.split("</head>")[1] and "<table" not in page
    assert "Method and limits" in text


def test_tolerates_missing_optional_keys() -> None:
    page = render_report(
        {
            "sites": [
                {
                    "site_id": "x",
                    "zones": [
                        {
                            "observations": [
                                {"time": "2024-12-01T00:00:00Z", "value": 3},
                                {"time": "not a time", "value": 4},
                                {"time": "2024-12-02", "value": None, "clear_fraction": 0.0},
                                {"value": 5},
                            ],
                            "changes": [{"direction": "up"}],
                        }
                    ],
                },
                {},
            ]
        }
    )
    checker = _parse(page)
    text = " ".join(" ".join(checker.text).split())
    assert page.count('<div class="bwchart"') == 1
    assert "unknown" in text and "site-2" in text  # defaults for a bare site
    assert "4 observations, 1 usable" in text


@pytest.mark.parametrize("bad", [[], {"sites": "tartus"}, {"sites": [1, 2]}])
def test_rejects_non_assessments(bad: Any) -> None:
    with pytest.raises(InputError, match="assessment"):
        render_report(bad)


def test_write_report(tmp_path: Path, assessment: dict[str, Any], registry: list[Site]) -> None:
    out = write_report(assessment, tmp_path / "out" / "report.html", sites=registry)
    assert out == tmp_path / "out" / "report.html"
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Khmeimim Air Base" in page
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


def test_write_report_refuses_pdf_and_unknown_suffixes(
    tmp_path: Path, assessment: dict[str, Any]
) -> None:
    with pytest.raises(InputError, match="--pdf FILE"):
        write_report(assessment, tmp_path / "report.pdf")
    with pytest.raises(InputError, match=r"\.html"):
        write_report(assessment, tmp_path / "report.txt")
    assert list(tmp_path.iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="cannot write"):
        write_report(assessment, blocker / "report.html")


def test_render_is_deterministic(assessment: dict[str, Any]) -> None:
    assert render_report(assessment) == render_report(assessment)


# --------------------------------------------------------------------------- evidence, flights,
# simulated imagery, build_report (--site, --pdf)

EVIDENCE = [
    {
        "site_id": "tartus",
        "time": datetime(2024, 12, 3, 10, tzinfo=UTC),
        "source": "Maxar <via press>",
        "url": "https://example.org/tartus",
        "claim": "Piers empty; the flotilla left.",
        "kind": "imagery",
    },
    {
        "site_id": "tartus",
        "time": datetime(2024, 12, 1, 9, tzinfo=UTC),
        "source": "local post",
        "url": "javascript:alert(1)",
        "claim": "Ships leaving.",
        "kind": "post",
    },
    {
        "site_id": "khmeimim",
        "time": datetime(2024, 12, 6, tzinfo=UTC),
        "source": "spotter",
        "url": "https://example.org/il76",
        "claim": "Il-76 departures.",
        "kind": "post",
    },
]


def _section(page: str, site_id: str) -> str:
    """The HTML of one site's section."""
    start = page.index('<section class="site" id="site-')
    sections = page[start:].split('<section class="site"')[1:]
    return next(s for s in sections if f"<dd>{site_id}</dd>" in s)


def test_evidence_table_per_site_sorted_and_safe(assessment: dict[str, Any]) -> None:
    page = render_report(assessment, evidence=EVIDENCE)
    tartus = _section(page, "tartus").split('<table class="evidence">')[1].split("</table>")[0]
    assert tartus.count("<tr><td>2024-12-") == 2
    assert tartus.index("Ships leaving.") < tartus.index("Piers empty")  # oldest first
    assert "Maxar &lt;via press&gt;" in tartus
    assert 'href="https://example.org/tartus"' in tartus
    assert 'href="javascript' not in page  # only http(s) links become links
    assert "Il-76 departures." not in tartus and "Il-76 departures." in page
    assert "<h3>Evidence</h3>" not in render_report(assessment)


def test_flight_activity_chart(assessment: dict[str, Any]) -> None:
    days = [(date(2024, 12, 1) + timedelta(days=i), n) for i, n in enumerate([0, 1, 0, 0, 3, 4, 5])]
    page = render_report(assessment, flights={"khmeimim": days})
    khmeimim = _section(page, "khmeimim")
    figure = khmeimim.split('<figure class="flights">')[1].split("</figure>")[0]
    assert "<svg" in figure and "departures / day" in figure
    # one bar patch per day with departures (matplotlib draws zero-height bars too)
    assert figure.count('id="patch_') >= len(days)
    assert '<figure class="flights">' not in _section(page, "tartus")
    assert '<figure class="flights">' not in render_report(assessment, flights={"khmeimim": []})


def test_simulated_notice_is_explicit(assessment: dict[str, Any]) -> None:
    assert "Simulated imagery" not in render_report(assessment)
    assert "Simulated imagery" in render_report(assessment, simulated=True)
    assert "Simulated imagery" in render_report({**assessment, "imagery": "simulated"})
    assert "Simulated imagery" not in render_report({**assessment, "imagery": "sentinel"})


@pytest.fixture
def store_url(tmp_path: Path, assessment: dict[str, Any], registry: list[Site]) -> str:
    from basewatch.store import open_store

    url = f"sqlite:///{tmp_path / 'store.db'}"
    with open_store(url) as store:
        store.upsert_sites(registry)
        store.save_assessment(assessment, as_of=datetime(2024, 12, 15, tzinfo=UTC))
        for entry in EVIDENCE:
            store.add_evidence(**entry)
    return url


def test_build_report_one_site_with_evidence(tmp_path: Path, store_url: str) -> None:
    from basewatch.report import build_report

    built = build_report(out=tmp_path / "one.html", db=store_url, site_ids=["tartus"])
    assert built.sites == ("tartus",) and built.pdf is None
    page = built.html.read_text(encoding="utf-8")
    assert "Piers empty; the flotilla left." in page
    assert "Khmeimim Air Base" not in page and "Il-76" not in page
    umask = os.umask(0)
    os.umask(umask)
    assert built.html.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_build_report_unknown_site(tmp_path: Path, store_url: str) -> None:
    from basewatch.errors import SiteNotFoundError
    from basewatch.report import build_report

    with pytest.raises(SiteNotFoundError, match="atlantis.*known sites: khmeimim"):
        build_report(out=tmp_path / "x.html", db=store_url, site_ids=["atlantis"])
    assert not (tmp_path / "x.html").exists()


def test_build_report_pdf_without_chromium(tmp_path: Path, store_url: str) -> None:
    from basewatch.report import build_report

    with pytest.raises(InputError, match="needs Chromium.*apt-get install chromium"):
        build_report(
            out=tmp_path / "r.html",
            db=store_url,
            pdf=tmp_path / "r.pdf",
            chromium=str(tmp_path / "no-such-chromium"),
        )
    assert not (tmp_path / "r.html").exists()  # nothing done before the check
    with pytest.raises(InputError, match=r"\.pdf"):
        build_report(out=tmp_path / "r.html", db=store_url, pdf=tmp_path / "r.png")


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium not installed (/usr/bin/chromium)"
)
def test_build_report_pdf_with_chromium(tmp_path: Path, store_url: str) -> None:
    from basewatch.report import build_report

    built = build_report(
        out=tmp_path / "r.html",
        db=store_url,
        pdf=tmp_path / "pdf" / "r.pdf",
        chromium=str(CHROMIUM),
    )
    assert built.pdf == tmp_path / "pdf" / "r.pdf"
    data = built.pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") >= 2  # several pages


def test_cli_report_site_option(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from basewatch.cli import main

    out = tmp_path / "cli.html"
    main(["report", "--db", store_url, "--out", str(out), "--site", "khmeimim"])
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    page = out.read_text(encoding="utf-8")
    assert "Khmeimim Air Base" in page and "Piers empty" not in page
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--db", store_url, "--out", str(out), "--site", "atlantis"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "atlantis" in err and "Traceback" not in err


def _chip(sensor: str = "sentinel-2") -> Any:
    from affine import Affine

    from basewatch.imagery.chip import Chip

    rng = np.random.default_rng(7)
    shape = (30, 40)
    bands = {b: rng.uniform(0.05, 0.2, shape).astype("float32") for b in ("red", "green", "blue")}
    bands["vv"] = rng.gamma(4.5, 0.08 / 4.5, shape).astype("float32")
    valid = np.ones(shape, bool)
    valid[:, :5] = False  # a cloudy strip
    return Chip(
        scene_id="S2_test",
        sensor=sensor,
        time=datetime(2024, 12, 1, tzinfo=UTC),
        bands=bands,
        transform=Affine(10, 0, 780000, 0, -10, 3925000),
        crs="EPSG:32636",
        resolution_m=10.0,
        zone_mask=np.ones(shape, bool),
        valid=valid,
    )


@pytest.mark.parametrize("sensor", ["sentinel-2", "sentinel-1"])
def test_render_chip_outlines_detections(sensor: str) -> None:
    from matplotlib.image import imread

    from basewatch.report.chips import MIN_DISPLAY_PX, data_uri, render_chip

    box = {"type": "Feature", "geometry": None, "properties": {"bbox_px": [10, 8, 12, 4]}}
    image = render_chip(_chip(sensor), [box])
    pixels = imread(io.BytesIO(image.png))
    factor = -(-MIN_DISPLAY_PX // 40)
    assert pixels.shape == (30 * factor, 40 * factor, 4)
    red = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.2) & (pixels[..., 3] == 1)
    rows, cols = np.nonzero(red)
    assert (rows.min() // factor, rows.max() // factor) == (8, 11)
    assert (cols.min() // factor, cols.max() // factor) == (10, 21)
    assert not red[9 * factor + 1, 15 * factor]  # the box is an outline, not filled
    assert (pixels[:, : 5 * factor, 3] == 0).all() and (pixels[:, 5 * factor :, 3] > 0).all()
    west, south, east, north = image.bounds
    assert 35.9 < west < east < 36.1 and 35.4 < south < north < 35.5
    assert data_uri(image.png).startswith("data:image/png;base64,iVBOR")


def test_report_shows_chip_pictures(assessment: dict[str, Any]) -> None:
    chips = {
        "tartus": {
            "piers": [
                {"caption": "before: 2024-12-01 <b>", "uri": "data:image/png;base64,AAAA"},
                {"caption": "after: unavailable", "uri": ""},
            ]
        }
    }
    page = render_report(assessment, chips=chips)
    tartus = _section(page, "tartus")
    assert tartus.count("<img ") == 1 and 'src="data:image/png;base64,AAAA"' in tartus
    assert "before: 2024-12-01 &lt;b&gt;" in tartus and "after: unavailable" in tartus
    assert "<img " not in _section(page, "khmeimim")


def test_pick_pair_same_sensor_around_latest_change() -> None:
    from basewatch.report.build import _pick_pair

    def obs(sensor: str, day: int, value: int) -> dict[str, Any]:
        return {"sensor": sensor, "_time": datetime(2024, 11, day, 8, tzinfo=UTC), "value": value}

    s1 = [obs("sentinel-1", d, v) for d, v in ((2, 6), (8, 5), (14, 6), (20, 0), (26, 0))]
    s2 = [obs("sentinel-2", d, v) for d, v in ((4, 3), (9, 2), (19, 0), (24, 0))]
    change = {
        "after": "2024-11-14",
        "after_time": "2024-11-14T08:00:00Z",
        "before": "2024-11-20",
        "before_time": "2024-11-20T08:00:00Z",
        "from": 6,
        "to": 0,
        "significant": True,
        "dated_with": ["sentinel-1", "sentinel-2"],
    }
    older = {**change, "after_time": "2024-11-03T00:00:00Z", "before_time": "2024-11-05T00:00:00Z"}
    chosen, note = _pick_pair(s1 + s2, [older, change])
    # sentinel-1 brackets the change with the counts nearest its levels (6 -> 0); sentinel-2's
    # pair (2 -> 0) is closer in time but further from the levels; never one of each sensor
    assert [(label, o["sensor"], o["value"]) for label, o in chosen] == [
        ("before", "sentinel-1", 6),
        ("after", "sentinel-1", 0),
    ]
    assert "Both chips are sentinel-1" in note and "dated with sentinel-1, sentinel-2" in note
    only_s2, note = _pick_pair(s2, [change])
    assert {o["sensor"] for _, o in only_s2} == {"sentinel-2"}
    assert [o["value"] for _, o in only_s2] == [2, 0]
    first_last, note = _pick_pair(s1 + s2, [])
    assert [(label, o["value"]) for label, o in first_last] == [
        ("first clear image", 6),
        ("latest clear image", 0),
    ]
    assert {o["sensor"] for _, o in first_last} == {"sentinel-1"}  # the best-observed sensor
    assert _pick_pair([], [change]) == ([], "")


# --------------------------------------------------------------------------- maps


def test_render_overlay_puts_pixels_where_they_are() -> None:
    from matplotlib.image import imread
    from pyproj import Transformer

    from basewatch.report.chips import render_overlay

    chip = _chip("sentinel-2")
    row, col = 12, 30  # one bright red pixel, far from the chip's corner
    for band, value in (("red", 1.0), ("green", 0.0), ("blue", 0.0)):
        chip.bands[band][row, col] = value
    overlay = render_overlay(chip)
    pixels = imread(io.BytesIO(overlay.png))
    west, south, east, north = overlay.bounds
    x, y = chip.transform @ (col + 0.5, row + 0.5)
    lon, lat = Transformer.from_crs(chip.crs, "EPSG:4326", always_xy=True).transform(x, y)
    # Leaflet maps an overlay linearly in Web Mercator between its corners
    merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    (mx, mw, me), (my, ms, mn) = merc.transform([lon, west, east], [lat, south, north])
    height, width = pixels.shape[:2]
    c, r = int((mx - mw) / (me - mw) * width), int((mn - my) / (mn - ms) * height)
    red = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.1) & (pixels[..., 3] == 1)
    assert red[r, c] and 1 <= red.sum() <= 4  # one chip pixel, within a pixel of its place
    assert pixels[0, 0, 3] == 0 and pixels[-1, -1, 3] == 0  # outside the rotated chip
    # the cloudy strip (first 5 columns) stays transparent
    x0, y0 = chip.transform @ (2.5, 15.5)
    lon0, lat0 = Transformer.from_crs(chip.crs, "EPSG:4326", always_xy=True).transform(x0, y0)
    (mx0,), (my0,) = merc.transform([lon0], [lat0])
    r0, c0 = int((mn - my0) / (mn - ms) * height), int((mx0 - mw) / (me - mw) * width)
    assert pixels[r0, c0, 3] == 0


def _obs(zone: str, day: int, *, value: float | None = 3, clear: float = 1.0) -> Any:
    from types import SimpleNamespace

    footprint = box(35.9540, 35.4035, 35.9542, 35.4037)
    detection = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [list(footprint.exterior.coords)]},
        "properties": {"cls": "aircraft", "score": 0.9, "bbox_px": [1, 1, 2, 2]},
    }
    return SimpleNamespace(
        site_id="khmeimim",
        zone_id=zone,
        scene_id=f"S2_{zone}_{day}",
        time=datetime(2024, 12, day, 8, 20, tzinfo=UTC),
        sensor="sentinel-2",
        value=value,
        clear_fraction=clear,
        detections=[detection] if value else [],
    )


def _front_file(tmp_path: Path, date_: str, lon: float) -> Path:
    import json

    doc = {
        "type": "FeatureCollection",
        "date": date_,
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[lon, 34.5], [lon, 36.5]]},
                "properties": {"controller": "HTS"},
            }
        ],
    }
    path = tmp_path / f"front-{date_}.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_site_map_layers(tmp_path: Path, registry: list[Site]) -> None:
    from basewatch.context.threat import exposure, load_front, load_weapons
    from basewatch.errors import ImageryError
    from basewatch.report.chips import ChipImage
    from basewatch.report.maps import site_map

    site = registry[0]
    fronts = [
        load_front(_front_file(tmp_path, "2024-12-07", 36.35)),
        load_front(_front_file(tmp_path, "2024-11-26", 36.60)),
    ]
    weapons = load_weapons()
    observations = [
        _obs("main-apron", 1),
        _obs("main-apron", 5, value=7),
        _obs("main-apron", 9, clear=0.3),  # cloudy: not the map's image
        _obs("main-apron", 11, value=None),  # unusable
    ]
    read: list[str] = []

    def reader(zone: Zone, obs: Any) -> ChipImage:
        read.append(obs.scene_id)
        return ChipImage(png=b"\x89PNG-test", bounds=(35.95, 35.40, 35.96, 35.41))

    data = site_map(
        site, observations, read_overlay=reader, posture="reduced", fronts=fronts, weapons=weapons
    )
    assert read == ["S2_main-apron_5"]
    (overlay,) = data["overlays"]
    assert overlay["uri"].startswith("data:image/png;base64,")
    assert overlay["bounds"] == [35.95, 35.40, 35.96, 35.41] and overlay["zone_id"] == "main-apron"
    features = data["features"]["features"]
    roles = [f["properties"]["role"] for f in features]
    assert roles.count("zone") == 1 and roles.count("site") == 1 and roles.count("detection") == 1
    assert [f["properties"]["date"] for f in features if f["properties"]["role"] == "front"] == [
        "2024-11-26",
        "2024-12-07",
    ]
    latest = exposure([site], fronts[0], weapons)[0]
    distances = {
        f["properties"]["date"]: f["properties"]
        for f in features
        if f["properties"]["role"] == "distance"
    }
    assert distances["2024-12-07"]["distance_km"] == pytest.approx(latest.distance_km, abs=0.01)
    assert distances["2024-12-07"]["latest"] and not distances["2024-11-26"]["latest"]
    assert distances["2024-12-07"]["in_range"] == list(latest.in_range)
    rings = {
        f["properties"]["weapon"]: f["properties"]
        for f in features
        if f["properties"]["role"] == "ring"
    }
    assert rings["BM-30 Smerch"]["in_range"] and not rings["BM-21 Grad"]["in_range"]
    assert [f["file"] for f in data["fronts"]] == [
        "front-2024-11-26.geojson",
        "front-2024-12-07.geojson",
    ]

    def broken(zone: Zone, obs: Any) -> ChipImage:
        raise ImageryError("catalogue moved")

    data = site_map(site, observations, read_overlay=broken)
    assert data["overlays"] == [] and "catalogue moved" in data["notes"][0]
    assert not any(f["properties"]["role"] == "ring" for f in data["features"]["features"])


def test_report_map_is_inlined_and_escaped(
    tmp_path: Path, assessment: dict[str, Any], registry: list[Site]
) -> None:
    import json

    from basewatch.context.threat import load_front, load_weapons
    from basewatch.report.maps import site_map

    front = load_front(_front_file(tmp_path, "2024-12-07", 36.35))
    apron = replace(registry[0].zones[0], name="</script><script>alert(1)</script>")
    evil = replace(registry[0], zones=(apron,))
    maps = {"khmeimim": site_map(evil, [], fronts=[front], weapons=load_weapons())}
    page = render_report({**assessment, "imagery": "simulated"}, sites=registry, site_maps=maps)
    checker = _parse(page)
    assert "<script>alert(1)</script>" not in page
    assert not checker.errors
    for _tag, name, value in checker.attrs:
        assert not (name in {"src", "href"} and value and re.match(r"\s*(https?:)?//", value))
    assert "<link" not in page and "<script src" not in page and "url(images/" not in page
    assert "Leaflet 1.9.4" in page and page.count('data-mode="site"') == 1
    data = re.search(r'id="map-data-[^"]*">(.*?)</script>', page, re.DOTALL)
    assert data is not None
    decoded = json.loads(data.group(1))
    zone = next(f for f in decoded["features"]["features"] if f["properties"]["role"] == "zone")
    assert zone["properties"]["name"] == "</script><script>alert(1)</script>"
    khmeimim = _section(page, "khmeimim")
    assert "front-2024-12-07.geojson" in khmeimim and "km</td>" in khmeimim
    assert "approximate lines drawn by hand" in page
    # without maps, no Leaflet at all
    assert "Leaflet 1.9.4" not in render_report(assessment, sites=registry)


def test_baseline_band_contains_the_counts_that_are_not_significant() -> None:
    from basewatch.analysis.baseline import judge_series
    from basewatch.report.html import _baseline_band, _points

    rng = np.random.default_rng(42)
    times = [datetime(2024, 6, 1, 8, tzinfo=UTC) + timedelta(days=5 * i) for i in range(40)]
    values: list[float | None] = [float(v) for v in rng.poisson(8, 40)]
    values[36:] = [0.0, 0.0, 0.0, 0.0]  # the ships left
    clear = [1.0 if i % 7 else 0.2 for i in range(40)]
    judged = judge_series(times, values, clear)
    raw = [
        {
            "time": t.isoformat(),
            "sensor": "sentinel-1",
            "detector": "sar-cfar",
            "value": v,
            "clear_fraction": c,
            "expected": j.expected,
            "usual": None if j.usual is None else list(j.usual),
            "significant": j.significant,
            "conclusive": j.conclusive,
        }
        for t, v, c, j in zip(times, values, clear, judged, strict=True)
    ]
    band = {t: (e, lo, hi) for t, e, lo, hi in _baseline_band(_points(raw))}
    assert len(band) >= 30
    by_time = dict(zip(times, zip(values, judged, strict=True), strict=True))
    for t, (expected, low, high) in band.items():
        value, judgement = by_time[t]
        assert expected == pytest.approx(judgement.expected, abs=0.01)  # same baseline
        assert low <= expected <= high
        if judgement.conclusive:
            assert judgement.significant == (not low <= value <= high), (t, value, low, high)
    significant = [v for v, j in zip(values, judged, strict=True) if j.significant]
    assert significant and set(significant) == {0.0}  # the departure is outside the band


def test_chart_draws_the_baseline_band(assessment: dict[str, Any]) -> None:
    page = render_report(assessment)
    piers = _charts(_section(page, "tartus"))[0]
    band = {s["kind"]: s for s in piers["series"] if s["kind"].startswith("band")}
    assert band["band-high"]["label"] == "usual range (sentinel-1)"
    raw = [
        o for o in assessment["sites"][0]["zones"][0]["observations"] if o["sensor"] == "sentinel-1"
    ]
    highs = [v for v in band["band-high"]["values"] if v is not None]
    assert highs == [o["usual"][1] for o in raw]  # the assessment's usual range, as given


def test_survey_statistics_section(registry: list[Site]) -> None:
    from basewatch.context.survey import compare_stats, survey_stats

    earlier = [
        *registry,
        Site(id="x", name="X", kind="airbase", operator="IR", geometry=Point(36, 35)),
    ]
    page = render_report({"sites": []}, survey=compare_stats(registry, earlier))
    text = " ".join(" ".join(_parse(page).text).split())
    text = text.split("Survey statistics")[1].split("Method and limits")[0]
    assert "2 sites in the registry (-1 against the earlier survey)" in text
    assert "RU 1 +0 airbase 1" in text and "IR 0 -1" in text
    assert "airbase 1 -1" in text and "naval base 1 +0" in text
    plain = render_report({"sites": []}, survey=survey_stats(registry))
    assert "Survey statistics" in plain and "against the earlier survey" not in plain
    assert "Survey statistics" not in render_report({"sites": []})


def test_build_report_with_fronts_and_survey(tmp_path: Path, store_url: str) -> None:
    from basewatch.report import build_report

    built = build_report(
        out=tmp_path / "r.html",
        db=store_url,
        fronts=[_front_file(tmp_path, "2024-12-07", 36.35)],
    )
    page = built.html.read_text(encoding="utf-8")
    assert page.count('data-mode="region"') == 1  # tartus is not in this store's registry
    khmeimim = _section(page, "khmeimim")
    assert "BM-30 Smerch" in khmeimim and "2024-12-07" in khmeimim
    assert "Survey statistics" in page and "2 sites in the registry" in page


def test_cli_report_with_bundled_front_and_survey(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from basewatch.cli import main

    out = tmp_path / "cli.html"
    main(["report", "--db", store_url, "--out", str(out), "--front", "syria-2024-12-07"])
    page = out.read_text(encoding="utf-8")
    assert "syria-2024-12-07.geojson" in page and "Survey statistics" in page
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--db", store_url, "--out", str(out), "--front", "nowhere.geojson"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "nowhere.geojson" in err and "Traceback" not in err


# --------------------------------------------------------------------------- issue 18


def _zone_article(page: str, zone_id: str) -> str:
    """The HTML of one zone's article."""
    start = page.index(f'data-zone="{zone_id}"')
    return page[start : page.index("</article>", start)]


def test_header_table_and_indicator_share_one_source() -> None:
    """A zone's headline, changes table and indicator give the same levels and p-value, and a
    significant change that leaves the zone steady says so instead of contradicting it."""
    change = {
        "after": "2024-11-21",
        "before": "2024-12-03",
        "direction": "down",
        "from": 13,
        "to": 2,
        "significant": True,
        "p_value": 0.00512,
        "dated_with": ["highres", "sentinel-2"],
    }
    small = {**change, "direction": "up", "from": 0, "to": 1, "p_value": 0.0009}
    obs = [
        {
            "time": f"2024-11-{d:02d}T08:00:00Z",
            "sensor": "sentinel-2",
            "value": v,
            "clear_fraction": 1.0,
            "significant": False,
            "p_value": 0.4,
        }
        for d, v in ((1, 13), (10, 12), (21, 13), (28, 2))
    ]
    payload = {
        "sites": [
            {
                "site_id": "khmeimim",
                "posture": "withdrawing",
                "indicators": [
                    "main-apron: 13 -> 2 aircraft between 2024-11-21 and 2024-12-03 (p = 0.005; "
                    "4 clear observation(s) at the new level; highres, sentinel-2)",
                    "transport-apron: about 1 aircraft since 2024-12-03 (was 0 until "
                    "2024-11-21; too small a change to matter)",
                ],
                "zones": [
                    {
                        "zone_id": "main-apron",
                        "metric": "aircraft_count",
                        "status": "dropped",
                        "summary": "main-apron: 13 -> 2 aircraft between 2024-11-21 and "
                        "2024-12-03 (p = 0.005; 4 clear observation(s) at the new level; "
                        "highres, sentinel-2)",
                        "observations": obs,
                        "changes": [change],
                    },
                    {
                        "zone_id": "transport-apron",
                        "metric": "aircraft_count",
                        "status": "steady",
                        "summary": "transport-apron: about 1 aircraft since "
                        "2024-12-03 (was 0 until 2024-11-21; too small a change to matter)",
                        "observations": obs,
                        "changes": [small],
                    },
                ],
            }
        ]
    }
    page = render_report(payload)
    main = _zone_article(page, "main-apron")
    assert 'data-levels="13 -&gt; 2" data-p="p = 0.005"' in main  # the headline
    row = re.search(r'<tr data-levels="([^"]+)" data-p="([^"]+)" data-significant="(\w+)">', main)
    assert row is not None and row.groups() == ("13 -&gt; 2", "p = 0.005", "yes")
    assert "13 -&gt; 2 aircraft between 2024-11-21 and 2024-12-03 (p = 0.005)" in main
    assert 'class="n-significant-changes">1</span> significant' in main
    assert "0 single observations" in main  # no longer a bare "0 significant"
    assert payload["sites"][0]["indicators"][0].startswith("main-apron: 13 -> 2")
    transport = _zone_article(page, "transport-apron")
    assert "zone still steady: see its judgement" in transport
    assert "too small a change to matter" in transport  # the judgement beside the table
    assert 'data-status="steady"' in transport


def test_sensor_disagreement_is_said_with_its_size() -> None:
    from basewatch.report.html import _points, _sensor_agreement

    obs = []
    for day in range(1, 29, 3):
        s1, s2 = 5 + day % 2, 3 + day % 2  # Sentinel-2 two below Sentinel-1 on every pass
        obs += [
            {"time": f"2024-11-{day:02d}T03:50:00Z", "sensor": "sentinel-1", "value": s1},
            {"time": f"2024-11-{day:02d}T08:20:00Z", "sensor": "sentinel-2", "value": s2},
        ]
    (note,) = _sensor_agreement(_points(obs))
    assert (note["lower"], note["higher"], note["median"], note["pairs"]) == (
        "sentinel-2",
        "sentinel-1",
        2.0,
        10,
    )
    assert note["text"].startswith("sentinel-2 counts run 2 below sentinel-1")
    # counts that agree, or too few pairs, say nothing
    same = [{**o, "value": 4} for o in obs]
    assert _sensor_agreement(_points(same)) == []
    assert _sensor_agreement(_points(obs[:6])) == []
    page = render_report({"sites": [{"site_id": "t", "zones": [{"observations": obs}]}]})
    assert "Sensors disagree:" in page and 'data-lower="sentinel-2"' in page


def test_context_layer_is_shipped_and_clipped() -> None:
    from importlib import resources

    from basewatch.report.basemap import context_features

    folder = resources.files("basewatch") / "data" / "basemap"
    assert "public domain" in (folder / "SOURCE.md").read_text(encoding="utf-8")
    layer = context_features((35.3, 34.4, 36.6, 35.9))
    land = {f["properties"]["name"] for f in layer if f["properties"]["role"] == "land"}
    places = [f["properties"]["name"] for f in layer if f["properties"]["role"] == "place"]
    assert {"Syria", "Lebanon", "Turkey"} <= land and "Israel" not in land
    assert "Latakia" in places and "Tartus" in places and "Damascus" not in places
    for feature in layer:
        lon0, lat0, lon1, lat1 = shape(feature["geometry"]).bounds
        assert 35.3 - 1e-9 <= lon0 <= lon1 <= 36.6 + 1e-9
        assert 34.4 - 1e-9 <= lat0 <= lat1 <= 35.9 + 1e-9
    assert context_features((-30.0, -10.0, -29.0, -9.0)) == []  # open ocean: nothing
