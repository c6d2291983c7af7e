"""Tests for basewatch.context.textev: claims from articles and posts, site aliases, ledger, CLI."""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from basewatch.cli import main
from basewatch.context.evidence import add_entries, list_entries
from basewatch.context.textev import (
    Quantity,
    TextClaim,
    decode_text,
    extract_files,
    extract_text,
    find_quantities,
    ledger_entries,
    resolve_event_date,
    split_sentences,
)
from basewatch.errors import InputError, RegistryError
from basewatch.sites import (
    Registry,
    Site,
    load_registry,
    registry_features,
    registry_from_features,
    save_registry,
)
from basewatch.store import open_store

TEXTS = Path(__file__).parent / "data" / "texts"
HELDOUT = TEXTS / "heldout"
REGISTRY = load_registry("syria-2024")

# Hand-written answer key for tests/data/texts: per file, one row per (claim, site):
# (first words of the claim, site, published, event date, kind, quantities[, estimated
# event date when the text hedges one]).
Gold = (
    tuple[str, str, str | None, str | None, str, list[tuple[int, str]]]
    | tuple[str, str, str | None, str | None, str, list[tuple[int, str]], str | None]
)
GOLD: dict[str, list[Gold]] = {
    "posture-2023-11.md": [
        ("Sentinel-2 imagery shows", "khmeimim", "2023-11-12", "2023-11-09", "article",
         [(12, "combat aircraft")], "2023-11-09"),  # "probably on the 9th": hedged
        ("A second pass (7 Nov 2023)", "khmeimim", "2023-11-12", "2023-11-07", "article",
         [(3, "Il-76"), (1, "An-124")]),
        ("Seen at Tartous on Tuesday:", "tartus", "2023-11-12", "2023-11-07", "article",
         [(4, "vessels"), (2, "corvette"), (1, "landing ship"), (1, "tanker"),
          (0, "submarine")]),  # "no submarine at the northern pier": a count of 0
    ],
    "latakia-airlift-2024-12-13.html": [
        ("Satellite images taken on Wednesday", "khmeimim", "2024-12-13", "2024-12-11",
         "article", [(2, "An-124 heavy transport aircraft")]),
        ("Kremlin spokesman Dmitry Peskov", "khmeimim", "2024-12-13", "2024-12-12",
         "official", []),
        ("Kremlin spokesman Dmitry Peskov", "tartus", "2024-12-13", "2024-12-12", "official",
         []),
        # issue 20: a post that states no day is dated by the post (was None)
        ("Hmeimim right now", "khmeimim", "2024-12-12", "2024-12-12", "post", [(4, "jets")]),
        ("Further south, the frigate", "tartus", "2024-12-13", "2024-12-10", "article", []),
    ],
    "wire-khmeimim-airlift.txt": [
        ("Russia has flown at least 8", "khmeimim", "2024-12-16", "2024-12-14", "article",
         [(8, "Il-76 transport aircraft")]),
        # "at the base": Khmeimim, named alone by the sentence before (was not filed)
        # "an An-124": one (2026-12-06, third session)
        ("Images from Maxar Technologies", "khmeimim", "2024-12-16", "2024-12-13", "article",
         [(1, "An-124")]),
        ("Ships in the port of Tartus", "tartus", "2024-12-16", None, "article", []),
        ('"We are not withdrawing', "tartus", "2024-12-16", "2024-12-15", "official", []),
    ],
    "tartuswatch-post.txt": [
        ("Tartus naval base, Sentinel-1", "tartus", "2024-12-03", "2024-12-03", "post",
         [(4, "vessels"), (2, "corvette"), (1, "landing ship"), (1, "tanker")]),
    ],
    "background-2024-12-09.txt": [],
    "mod-statement-2024-12-14.txt": [
        ("Russian forces at Hmeimim", "khmeimim", "2024-12-14", None, "official", []),
        ("Russian forces at Hmeimim", "tartus", "2024-12-14", None, "official", []),
    ],
    # issue 20: a thread with flag-decorated headings and an embedded post, no URL of its own
    "thread-syria-bases.txt": [
        ("Looking pretty empty, only 5 aircraft visible", "khmeimim", "2024-12-06",
         "2024-12-06", "post", [(5, "aircraft")]),
        ("The S-400 battery remains in place", "khmeimim", "2024-12-06", "2024-12-06", "post",
         []),
        ("Imagery from 3 December confirms", "tartus", "2024-12-06", "2024-12-03", "post", [],
         "2024-12-02"),
        ("Only 1 tug and 1 floating dock", "tartus", "2024-12-06", "2024-12-06", "post",
         [(1, "tug"), (1, "floating dock")]),
        ("Kilo-class sub spotted off Tartus", "tartus", "2024-12-05", "2024-12-05", "post",
         [(2, "escort ships")]),
    ],
    # an article whose date sits inline on its first line, URL and by-line below it
    "navy-leaves-tartus-inline.txt": [
        ("The Russian navy ships that were moored at Tartus", "tartus", "2024-12-05",
         "2024-12-04", "article", []),
        ("Maxar imagery of Tartus from December 4", "tartus", "2024-12-05", "2024-12-04",
         "article", [(1, "tug")]),
        ("The frigate Admiral Grigorovich", "tartus", "2024-12-05", "2024-12-01", "article",
         [(2, "landing ships")], "2024-12-01"),
        ("Khmeimim air base, 80 km to the north", "khmeimim", "2024-12-05", "2024-12-03",
         "article", [(6, "Il-76 flights")]),
    ],
    # wire copy with a dateline; a related link at the end is not its URL
    "wire-tartus-dateline.txt": [
        ("Russian warships have left their base at Tartus", "tartus", "2024-12-05",
         "2024-12-03", "article", [(3, "frigates")]),
        ('"The fleet left Tartus, probably on Monday,"', "tartus", "2024-12-05", "2024-12-02",
         "article", [], "2024-12-02"),
        ("Russia's Hmeimim air base near Latakia", "khmeimim", "2024-12-05", "2024-12-04",
         "article", [(4, "Su-24 bombers")]),
    ],
}  # fmt: skip


def _row(c: TextClaim) -> tuple[Any, ...]:
    return (
        c.claim,
        c.site_id,
        c.published.isoformat() if c.published else None,
        c.event_date.isoformat() if c.event_date else None,
        c.kind,
        [(q.count, q.what) for q in c.quantities],
        c.event_date_estimate.isoformat() if c.event_date_estimate else None,
    )


def _matches(row: tuple[Any, ...], gold: tuple[Any, ...]) -> bool:
    full = gold if len(gold) == 7 else (*gold, None)
    return bool(row[0].startswith(full[0]) and row[1:] == full[1:])


# --------------------------------------------------------------------------- the test texts


@pytest.mark.parametrize("name", sorted(GOLD))
def test_texts_match_the_answer_key(name: str) -> None:
    path = TEXTS / name
    claims = extract_text(path.read_text(encoding="utf-8"), REGISTRY, name=name, suffix=path.suffix)
    rows = [_row(c) for c in claims]
    gold = GOLD[name]
    missing = [g for g in gold if not any(_matches(r, g) for r in rows)]
    extra = [r for r in rows if not any(_matches(r, g) for g in gold)]
    assert (missing, extra) == ([], [])
    assert len(rows) == len(gold)


def test_background_and_sites_not_named_are_not_filed() -> None:
    claims = extract_files(sorted(p for p in TEXTS.iterdir() if p.is_file()), REGISTRY).claims
    text = " ".join(c.claim for c in claims)
    for background in (
        "since 2015",  # history of the base
        "49-year lease",  # history of the port
        "Russian diplomats said",  # politics, no site
        "only naval repair facility",  # description, nothing observed
        "dates back to September 2015",
        "talks with the new authorities",
    ):
        assert background not in text
    assert "99 jets" not in text and "coverage archive" not in text  # script, footer
    assert "5 ships out of Tartus" not in text and "Drone attack" not in text  # related links
    assert "Most popular" not in text  # outside the page's <article>
    for background in ("3 merchant ships", "leased Tartus since 2017", "established in 1971"):
        assert background not in text  # a heading naming no site; history


@pytest.mark.parametrize(
    ("before", "sentence", "expected"),
    [
        ("Il-76s left Khmeimim on Monday.", "On Dec. 13 2 An-124 stood at the base.", ["khmeimim"]),
        ("Il-76s left Hmeimim on Monday.", "On Dec. 13 the airfield held 4 jets.", ["khmeimim"]),
        ("Il-76s left Hmeimim on Monday.", "On Dec. 13 the main apron held 4 jets.", ["khmeimim"]),
        ("Ships were seen leaving Tartus.", "On Dec. 13 the port held 1 tug.", ["tartus"]),
        ("Maxar imaged Hmeimim on Dec. 15.", "S-400 parts were dismantled, the images showed.",
         ["khmeimim"]),
        # two sites named before: "the base" is ambiguous
        ("Il-76s left Khmeimim and ships left Tartus.", "On Dec. 13 the base held 4 jets.", []),
        # the kind does not fit: an airfield is not the naval base
        ("Ships were seen leaving Tartus.", "On Dec. 13 the airfield held 4 jets.", []),
        # a place named right after: not a back-reference
        ("Il-76s left Khmeimim on Monday.", "On Dec. 13 the port of Latakia held 3 ships.", []),
        ("Il-76s left Khmeimim on Monday.", "On Dec. 13 the airport at Qamishli held 3 jets.", []),
        # nothing named before
        ("Russia is leaving Syria.", "On Dec. 13 the base held 4 jets.", []),
        # another place named in the sentence: its base, its port (review of 2026-12-06)
        ("Il-76s left Hmeimim on Dec. 12.",
         "They landed at al-Khadim in Libya, where on Dec. 14 the base held 5 Il-76.", []),
        ("Ships left Tartus on Dec. 12.",
         "On Dec. 14 the frigates arrived in Tobruk, and the port held 2 frigates.", []),
        ("Ships left Tartus on Dec. 12.", "On Dec. 14, 3 ships docked in the port city of Latakia.",
         []),
        ("Il-76s left Hmeimim on Dec. 12.", "In December the base held 4 jets on Dec. 13.",
         ["khmeimim"]),  # a month is not a place
        # "there" after a verb of placing is the site named before; an existential is not
        ("Imagery shows Tartus on Dec. 9.", "Three frigates were moored there on Dec. 5.",
         ["tartus"]),
        ("Imagery shows Tartus on Dec. 9.", "On Dec. 5 there were three frigates.", []),
    ],
)  # fmt: skip
def test_a_back_reference_takes_the_site_named_before(
    before: str, sentence: str, expected: list[str]
) -> None:
    text = f"date 2024-12-16\n\n{before}\n\nOther news: Damascus was quiet.\n\n{sentence}\n"
    claims = extract_text(text, REGISTRY, name="t.txt", suffix=".txt")
    assert [c.site_id for c in claims if c.claim == sentence] == expected


def test_items_of_a_dated_log_take_the_site_of_their_lead_in() -> None:
    """Without a back-reference in each item, the days under "Warships seen at Tartus this
    month:" were dropped (review of 2026-12-06)."""
    text = (
        "date 2024-12-10\n\nWarships seen at Tartus this month:\n- 2 Dec: 3 frigates, "
        "1 submarine\n- 5 Dec: 1 frigate\n\nOn Dec. 6, 2 jets landed in Cyprus.\n"
    )
    claims = extract_text(text, REGISTRY, name="t.md", suffix=".md")
    days = [(c.site_id, str(c.event_date)) for c in claims if c.event_date is not None]
    assert days == [("tartus", "2024-12-02"), ("tartus", "2024-12-05")]


def test_clauses_with_their_own_days_are_claims_of_their_own() -> None:
    """'On 5 December three frigates were at Tartus; on 9 December no warships remained
    there.' was one claim dated 5 December with 0 warships (and 'December three' was read as
    a day, losing the frigates)."""
    text = (
        "date 2024-12-10\n\nOn 5 December three frigates were at Tartus; on 9 December no "
        "warships remained there.\n"
    )
    claims = extract_text(text, REGISTRY, name="t.txt", suffix=".txt")
    got = [(c.site_id, str(c.event_date), [(q.count, q.what) for q in c.quantities])
           for c in claims]  # fmt: skip
    assert got == [
        ("tartus", "2024-12-05", [(3, "frigates")]),
        ("tartus", "2024-12-09", [(0, "warships")]),
    ]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Images of Tartus from December 9 show no warships, while two frigates were there a "
         "week earlier.", [(0, "warships")]),
        ("The images of December 9 show no vessels at the Tartus piers where two frigates were "
         "docked last week.", [(0, "vessels")]),
        ("Earlier this week, a dozen Su-24 were parked at Hmeimim; on Monday only eight "
         "remained.", []),
        # set earlier as a whole: its numbers stay
        ("Images from last week show 4 Il-76 at Hmeimim.", [(4, "Il-76")]),
    ],
)  # fmt: skip
def test_numbers_of_an_earlier_undated_time_are_not_the_claims(
    sentence: str, expected: list[tuple[int, str]]
) -> None:
    claims = extract_text(f"date 2024-12-10\n\n{sentence}\n", REGISTRY, name="t.txt")
    (claim,) = claims
    assert [(q.count, q.what) for q in claim.quantities] == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Only two of the four frigates were still at Tartus.", [(2, "frigates")]),
        ("An An-124 was photographed at Hmeimim.", [(1, "An-124")]),
        ("A MiG-29 pilot was seen at Hmeimim.", []),
        ("An Il-76 x3 was seen at Hmeimim.", [(3, "Il-76")]),
        ("Two more Il-76MD aircraft took off from Hmeimim.", [(2, "Il-76MD aircraft")]),
        ("Hmeimim held 5 more than last week.", []),
    ],
)
def test_parts_of_a_whole_and_single_designated_aircraft(
    sentence: str, expected: list[tuple[int, str]]
) -> None:
    assert [(q.count, q.what) for q in find_quantities(sentence)] == expected


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        ("Maxar said two Ka-52 attack helicopters were being disassembled.", ["khmeimim"]),
        ("Maxar said 3 Il-76 were loading.", ["khmeimim"]),
        # ships are not what an air base holds; vehicles could be anywhere
        ("Maxar said two frigates were being loaded.", []),
        ("Maxar said 12 trucks were lined up.", []),
        # another place named
        ("Two Ka-52 helicopters were seen in Qamishli.", []),
    ],
)
def test_a_sentence_goes_on_about_the_site_the_one_before_named(
    second: str, expected: list[str]
) -> None:
    """'Photos ... at Hmeimim Air Base. Maxar said two Ka-52 attack helicopters were being
    disassembled.' lost the helicopters (no site named, no back-reference)."""
    first = "Photos taken Monday showed helicopters being prepared at Hmeimim Air Base."
    claims = extract_text(f"date 2024-12-17\n\n{first} {second}\n", REGISTRY, name="t.txt")
    assert [c.site_id for c in claims if c.claim == second] == expected


def test_a_date_line_in_markdown_emphasis_is_the_texts_date_not_a_claim() -> None:
    text = "# Tartus update\n\n*Published December 10, 2024*\n\nNo warships at the piers.\n"
    claims = extract_text(text, REGISTRY, name="t.md", suffix=".md")
    assert [(c.published, c.claim) for c in claims] == [
        (date(2024, 12, 10), "No warships at the piers.")
    ]


def test_a_threads_first_post_is_not_its_title() -> None:
    """'1/ New imagery of ... from Dec 13. Big changes. 🧵' was taken for a title (no final
    full stop before the emoji) and its claim lost."""
    text = (
        "Thread by @GeoSpotter · Dec 14, 2024\n\n1/ New imagery of Russia's Khmeimim air base "
        "from Dec 13. Big changes. 🧵\n\n2/ The main apron: 4 Su-24 and 1 Il-20 remain.\n"
    )
    claims = extract_text(text, REGISTRY, name="t.txt", suffix=".txt")
    assert [(c.site_id, str(c.event_date)) for c in claims] == [
        ("khmeimim", "2024-12-13"),
        ("khmeimim", "2024-12-14"),
    ]


def test_a_heading_ends_what_back_references_point_to() -> None:
    text = (
        "date 2024-12-16\n\n# Khmeimim\n\nIl-76s left Khmeimim on Dec. 12.\n\n"
        "# Elsewhere in Syria\n\nOn Dec. 13 the base held 4 jets.\n"
    )
    claims = extract_text(text, REGISTRY, name="t.md", suffix=".md")
    assert [c.claim for c in claims] == ["Il-76s left Khmeimim on Dec. 12."]


def test_html_footnote_markers_are_not_text() -> None:
    """``<sup>2</sup>`` joined the next sentence ("Hmeimim.2 On December 17 ...") and a
    designator ("Ka-523 helicopters")."""
    html = (
        '<html><head><meta property="article:published_time" content="2024-12-18T10:00:00Z">'
        "</head><body><article><p>By December 16, imagery showed 4 Su-24 bombers parked at "
        'Hmeimim.<sup>2</sup> On December 17 the base held 3 Ka-52<sup><a href="#fn3">[3]</a>'
        "</sup> helicopters, as on the 15<sup>th</sup>.</p></article></body></html>"
    )
    claims = extract_text(html, REGISTRY, name="x.html", suffix=".html")
    assert [(c.site_id, str(c.event_date), c.claim) for c in claims] == [
        ("khmeimim", "2024-12-16", "By December 16, imagery showed 4 Su-24 bombers parked at "
         "Hmeimim."),
        ("khmeimim", "2024-12-17", "On December 17 the base held 3 Ka-52 helicopters, as on "
         "the 15th."),
    ]  # fmt: skip
    assert [(q.count, q.what) for q in claims[1].quantities] == [(3, "Ka-52 helicopters")]


def test_a_dated_log_in_a_list_gives_one_claim_per_day() -> None:
    """Items without a full stop were joined into one claim dated by the first day, with
    the counts of every day ("2 Dec: 3 frigates ...; 5 Dec: 1 frigate ...; 9 Dec: ...")."""
    text = (
        "date 2024-12-10\n\nRussian warships were docked at Tartus on 1 December.\n\n"
        "- 2 Dec: 3 frigates, 1 submarine at the piers\n- 5 Dec: 1 frigate at the piers\n"
        "- 9 Dec: no warships at the piers\n"
    )
    claims = extract_text(text, REGISTRY, name="log.md", suffix=".md")
    rows = [(str(c.event_date), [(q.count, q.what) for q in c.quantities]) for c in claims[1:]]
    assert [c.site_id for c in claims] == ["tartus"] * 4  # "the piers": Tartus, named before
    assert rows == [
        ("2024-12-02", [(3, "frigates"), (1, "submarine")]),
        ("2024-12-05", [(1, "frigate")]),
        ("2024-12-09", [(0, "warships")]),
    ]


def test_sources_and_links() -> None:
    by_file: dict[str, list[TextClaim]] = {}
    for c in extract_files(sorted(p for p in TEXTS.iterdir() if p.is_file()), REGISTRY).claims:
        by_file.setdefault(Path(c.file).name, []).append(c)
    wire = by_file["wire-khmeimim-airlift.txt"][0]
    assert (
        wire.source_url
        == "https://wire.example.com/world/middle-east/russia-moves-aircraft-2024-12-16/"
    )
    assert wire.source == "Wire"  # the dateline's agency
    daily = by_file["latakia-airlift-2024-12-13.html"]
    assert {c.source for c in daily} == {"Defence Daily", "@satwatcher"}
    tweet = next(c for c in daily if c.kind == "post")
    assert tweet.source_url == "https://x.com/satwatcher/status/1867000000000000001"
    post = by_file["tartuswatch-post.txt"][0]
    assert (post.source, post.source_url) == ("@TartusWatch", "https://t.me/tartuswatch/4121")
    assert by_file["posture-2023-11.md"][0].source == "Open Source Monitor"
    # no URL of its own: no source URL, never a link quoted in the text (t.co, bit.ly, related)
    assert {c.source_url for c in by_file["thread-syria-bases.txt"]} == {""}
    assert {c.source for c in by_file["thread-syria-bases.txt"]} == {
        "@OrbitalSpotter",
        "@MedShipping",
    }
    assert {(c.source, c.source_url) for c in by_file["wire-tartus-dateline.txt"]} == {
        ("Reuters", "")
    }
    assert {c.source_url for c in by_file["navy-leaves-tartus-inline.txt"]} == {
        "https://navalnews.example.org/2024/12/russian-navy-leaves-tartus/"
    }


# --------------------------------------------------------------------------- sites and aliases


@pytest.mark.parametrize(
    ("alias", "site_id"),
    [(a, s.id) for s in REGISTRY for a in s.aliases]
    + [("ḤMEIMIM", "khmeimim"), ("Ṭarṭūs", "tartus"), ("latakia  air-base", "khmeimim")],
)
def test_every_alias_links_its_site(alias: str, site_id: str) -> None:
    text = f"date 2024-12-03\n\nImagery on 2 Dec shows 4 jets and 2 ships at {alias}.\n"
    claims = extract_text(text, REGISTRY)
    assert [c.site_id for c in claims] == [site_id]


@pytest.mark.parametrize(
    "sentence",
    [
        "Imagery on 2 Dec shows 4 ships in the port of Latakia.",
        "Imagery on 2 Dec shows 4 ships at Tarsus.",
        "Imagery on 2 Dec shows 4 jets at Hmeimimovka.",
        "Imagery on 2 Dec shows 4 jets at the air base.",
    ],
)
def test_no_site_named_no_claim(sentence: str) -> None:
    assert extract_text(f"date 2024-12-03\n\n{sentence}\n", REGISTRY) == []


def test_aliases_read_validated_and_written_back(tmp_path: Path) -> None:
    khmeimim = REGISTRY.site("khmeimim")
    assert {"Khmeimim", "Hmeimim", "Humaymim", "Latakia air base"} <= set(khmeimim.aliases)
    assert {"Tartus", "Tartous", "Tartus naval base"} <= set(REGISTRY.site("tartus").aliases)
    for suffix in (".geojson", ".csv", ".gpkg"):
        back = load_registry(save_registry(REGISTRY, tmp_path / f"sites{suffix}"))
        assert back.site("khmeimim").aliases == khmeimim.aliases, suffix
    feature = registry_features(REGISTRY)[0]
    assert feature["properties"]["aliases"] == list(khmeimim.aliases)
    site = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [35.9, 35.4]},
        "properties": {"id": "x", "aliases": " Hmeimim |  | hmeimim | Latakia  air base"},
    }
    parsed = registry_from_features([site]).site("x")
    assert parsed.aliases == ("Hmeimim", "Latakia air base")
    site["properties"] = {"id": "x", "aliases": ["ok", 3]}
    with pytest.raises(RegistryError, match="feature 0: aliases is"):
        registry_from_features([site], source="bad.geojson")


def test_aliases_survive_the_store(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.upsert_sites(REGISTRY)
        stored = {s.id: s.aliases for s in store.sites()}
    assert stored == {s.id: s.aliases for s in REGISTRY}
    made = Site(id="y", name="Y", kind="other", geometry=Point(1, 2), aliases=("Why",))
    assert made.properties["aliases"] == ["Why"]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("sentence", "published", "expected"),
    [
        ("The ships left, probably on the 9th.", "2023-11-12", "2023-11-09"),
        ("The ships left on the 20th.", "2023-11-12", "2023-10-20"),  # a past day of the month
        ("A second pass (7 Nov 2023) counted them.", "2023-11-12", "2023-11-07"),
        ("Images taken on Tuesday show the pier.", "2023-11-12", "2023-11-07"),
        ("Friday's images show the pier.", "2024-12-14", "2024-12-13"),
        ("They left yesterday.", "2024-12-16", "2024-12-15"),
        ("They left two days ago.", "2024-12-16", "2024-12-14"),
        ("Images dated Dec. 13 show it.", "2024-12-16", "2024-12-13"),
        ("Imagery from December 28 shows it.", "2025-01-03", "2024-12-28"),  # nearest year
        ("They are due to leave by January 5.", "2024-12-28", "2025-01-05"),
        ("The pass on 2024-12-02 shows it.", "2024-12-16", "2024-12-02"),
        ("The base has operated since 2015.", "2024-12-16", None),
        ("Aircraft left in December.", "2024-12-16", None),
        ("Aircraft left last month.", "2024-12-16", None),
    ],
)
def test_event_dates_resolve_against_published(
    sentence: str, published: str, expected: str | None
) -> None:
    day = resolve_event_date(sentence, date.fromisoformat(published))
    assert (day.isoformat() if day else None) == expected


@pytest.mark.parametrize(
    ("text", "published"),
    [
        ("date 2023-11-12\n\nBody.", "2023-11-12"),
        ("Published: 12 November 2023\n\nBody.", "2023-11-12"),
        ("Title\n\nBy A. Writer\nNovember 12, 2023 10:42 AM\n\nBody.", "2023-11-12"),
        ("TARTUS, Syria, Dec. 10, 2024 (AFP) — Body.", "2024-12-10"),
        ("# Ships leave in Dec 2024\n\nMOSCOW, Dec 10 (Reuters) - Body.", "2024-12-10"),
        (
            '<html><head><meta property="article:published_time" content="2024-12-13T09:30:00Z">'
            "</head><body><p>Body.</p></body></html>",
            "2024-12-13",
        ),
        (
            '<!doctype html><script type="application/ld+json">{"datePublished": "2024-12-05"}'
            "</script><p>Body.</p>",
            "2024-12-05",
        ),
        ("<html><body><time datetime='2024-12-06'>6 Dec</time><p>Body.</p></body></html>",
         "2024-12-06"),
    ],
)  # fmt: skip
def test_published_date_sources(text: str, published: str) -> None:
    body = text.replace("Body.", "Imagery shows 4 jets at Khmeimim.")
    (claim,) = extract_text(body, REGISTRY)
    assert claim.published.isoformat() == published


def test_embedded_post_has_its_own_date_and_link() -> None:
    text = (
        "date: 2024-12-14\nsource: Monitor\n\nAnalysts cited this post.\n\n"
        "> Tartous: three landing ships loading yesterday, 2x corvette still at the pier.\n"
        "> [pic](https://t.me/navywatch/77)\n"
        "> — @NavyWatch, 10 Dec 2024\n\n"
        "Khmeimim looked busy on Thursday with 6 Il-76 flights.\n"
    )
    post, article = extract_text(text, REGISTRY)
    assert (post.kind, post.source, post.source_url) == (
        "post",
        "@NavyWatch",
        "https://t.me/navywatch/77",
    )
    assert (post.published, post.event_date) == (date(2024, 12, 10), date(2024, 12, 9))
    assert [(q.count, q.what) for q in post.quantities] == [(3, "landing ships"), (2, "corvette")]
    assert (article.site_id, article.published, article.event_date) == (
        "khmeimim",
        date(2024, 12, 14),
        date(2024, 12, 12),
    )


# --------------------------------------------------------------------------- numbers, sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4x vessels (2x corvette | 1x landing ship | 1x tanker)",
         [(4, "vessels"), (2, "corvette"), (1, "landing ship"), (1, "tanker")]),
        ("3 Il-76 and one An-124 on the apron", [(3, "Il-76"), (1, "An-124")]),
        ("just four jets left", [(4, "jets")]),
        ("More than 30 aircraft, a pair of Su-35s and Two Tu-22M3 bombers",
         [(30, "aircraft"), (2, "Su-35s"), (2, "Tu-22M3 bombers")]),
        ("a dozen helicopters and 1,200 troops", [(12, "helicopters"), (1200, "troops")]),
        ("Il-76 x3, An-124 x1", [(3, "Il-76"), (1, "An-124")]),
        ("two S-400 launchers and 2 Kilo-class submarines",
         [(2, "S-400 launchers"), (2, "Kilo-class submarines")]),
        ("a 49-year lease signed in 2017 covering 20 km of coast", []),
        ("on the 9th at 10:30, S-400 and Il-76 seen", []),
        ("16 a month earlier; 7 on 28 Nov", []),
    ],
)  # fmt: skip
def test_quantities(text: str, expected: list[tuple[int, str]]) -> None:
    assert find_quantities(text) == tuple(Quantity(count=n, what=w) for n, w in expected)


def test_split_sentences_keeps_abbreviations() -> None:
    text = (
        'Lt. Gen. Ivanov said U.S. claims are false. Dec. 13 images show ships. "We stay," he said.'
    )
    assert split_sentences(text) == [
        "Lt. Gen. Ivanov said U.S. claims are false.",
        "Dec. 13 images show ships.",
        '"We stay," he said.',
    ]


# --------------------------------------------------------------------------- bad input


def test_decode_text_accepts_text_encodings() -> None:
    body = "date 2024-12-03\nṬarṭūs: 2 ships"
    assert decode_text(body.encode("utf-8"), name="a") == body
    assert decode_text(b"\xef\xbb\xbf" + body.encode("utf-8"), name="a") == body
    assert decode_text(body.encode("utf-16"), name="a") == body
    latin = "encoding: windows-1252\ndate 2024-12-03\nCaf\xe9 at Tartus"
    assert decode_text(latin.encode("cp1252"), name="a") == latin


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"  \n\t\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "binary file \\(a PNG image\\)"),
        (b"%PDF-1.7\n", "a PDF"),
        (bytes(range(256)) * 4, "binary file"),
        (b"date 2024-12-03\nCaf\xe9 at Tartus", "not UTF-8 \\(byte 0xe9 at offset 19\\)"),
        (b"<meta charset='klingon-8'>\nCaf\xe9", "unknown encoding 'klingon-8'"),
        (b"encoding: utf-8\n\nCaf\xe9", "does not decode as its declared encoding 'utf-8'"),
    ],
)
def test_decode_text_refuses_non_text(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=f"^doc.txt: .*{message}"):
        decode_text(data, name="doc.txt")


def test_bad_files_are_reported_and_the_others_read(tmp_path: Path) -> None:
    files = {
        "empty.txt": b"",
        "image.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "latin.txt": "date 2024-12-03\nTartus: 2 ships left caf\xe9".encode("latin-1"),
        "nodate.txt": b"Imagery shows 4 jets at Khmeimim.",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [tmp_path / n for n in files] + [TEXTS / "tartuswatch-post.txt", tmp_path / "gone"]
    result = extract_files(paths, REGISTRY)
    # issue 20: an undated text is no longer refused; its claim comes with a warning
    assert [(c.site_id, c.published) for c in result.claims] == [
        ("khmeimim", None),
        ("tartus", date(2024, 12, 3)),
    ]
    messages = {Path(p.file).name: p.message for p in result.problems}
    assert set(messages) == {"empty.txt", "image.txt", "latin.txt", "gone"}
    assert "empty" in messages["empty.txt"] and "PNG" in messages["image.txt"]
    assert "not UTF-8" in messages["latin.txt"] and "iconv" in messages["latin.txt"]
    (warning,) = result.warnings
    assert Path(warning.file).name == "nodate.txt"
    assert "no publication date" in warning.message
    assert "unknown publication date" in warning.message
    assert "date 2024-12-13" in warning.message  # the fix
    assert "cannot read" in messages["gone"]


# ------------------------------------------------------------------ ledger, CLI, report, API


def _extracted() -> list[TextClaim]:
    return list(extract_files(sorted(p for p in TEXTS.iterdir() if p.is_file()), REGISTRY).claims)


def test_ledger_entries_keep_both_dates_and_are_idempotent(tmp_path: Path) -> None:
    claims = _extracted()
    entries = ledger_entries(claims, grade="C3")
    first = entries[0]
    assert first.time == datetime(2024, 12, 11, tzinfo=UTC)  # the event date
    assert first.source == "Defence Daily (published 2024-12-13)"
    assert (first.reliability, first.credibility) == ("C", "3")
    undated = next(e for e, c in zip(entries, claims, strict=True) if c.event_date is None)
    assert undated.time.date().isoformat() in undated.source  # published date used
    with open_store(f"sqlite:///{tmp_path / 'l.db'}") as store:
        ids = add_entries(store, entries, known_sites=[s.id for s in REGISTRY])
        known = [s.id for s in REGISTRY]
        again = add_entries(store, ledger_entries(_extracted(), grade="C3"), known_sites=known)
        stored = list_entries(store)
    assert ids == again and len(set(ids)) == len(claims) == len(stored)


def test_cli_extract_json_add_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    files = [str(p) for p in sorted(p for p in TEXTS.iterdir() if p.is_file())]
    args = ["evidence", "extract", *files, "--sites", "syria-2024", "--format", "json"]
    main([*args, "--add", "--db", db])
    out, err = capsys.readouterr()
    records = json.loads(out)
    assert len(records) == sum(len(v) for v in GOLD.values())
    assert set(records[0]) >= {
        "site_id", "claim", "published", "event_date", "quantities", "source_url", "kind",
    }  # fmt: skip
    assert f"{len(records)} distinct entries" in err
    main([*args, "--add", "--db", db])
    capsys.readouterr()
    main(["evidence", "list", "--db", db, "--format", "json"])
    assert len(json.loads(capsys.readouterr().out)) == len(records)


def test_cli_extract_table_and_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("")
    post = TEXTS / "tartuswatch-post.txt"
    with pytest.raises(SystemExit) as exit_info:
        main(["evidence", "extract", str(empty), str(post), "--sites", "syria-2024"])
    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert out.startswith("tartus     2024-12-03 2024-12-03 post     4 vessels, 2 corvette")
    assert "<https://t.me/tartuswatch/4121>" in out
    assert f"{empty}: the file is empty" in err
    assert "1 of 2 files could not be read" in err and "Traceback" not in err


def test_report_and_api_show_extracted_evidence(tmp_path: Path) -> None:
    from basewatch.report import render_report

    db = f"sqlite:///{tmp_path / 'r.db'}"
    with open_store(db) as store:
        store.upsert_sites(REGISTRY)
        add_entries(store, ledger_entries(_extracted()))
        evidence = store.evidence()
    page = html.unescape(render_report({"sites": [{"site_id": "tartus"}]}, evidence=evidence))
    assert "Tartus naval base, Sentinel-1 pass this morning" in page
    assert 'href="https://t.me/tartuswatch/4121"' in page
    assert "@TartusWatch (published 2024-12-03)" in page

    pytest.importorskip("fastapi", reason="the API needs the [web] extra (fastapi)")
    pytest.importorskip("httpx", reason="fastapi.testclient needs httpx (dev extra)")
    from fastapi.testclient import TestClient

    from basewatch.web import create_app

    with TestClient(create_app(db)) as client:
        response = client.get("/api/sites/khmeimim/evidence")
    assert response.status_code == 200
    rows = {r["claim"]: r for r in response.json()}
    tweet = rows[next(t for t in rows if t.startswith("Hmeimim right now"))]
    assert tweet["url"] == "https://x.com/satwatcher/status/1867000000000000001"
    assert (tweet["kind"], tweet["time"][:10]) == ("post", "2024-12-12")


def test_registry_without_aliases_uses_name_and_id() -> None:
    site = Site(id="hmeimim", name="Hmeimim Air Base", kind="airbase", geometry=Point(35.9, 35.4))
    registry = Registry((site,), "inline")
    text = "date 2024-12-03\n\nHmeimim Air Base: 4 jets on the apron. HMEIMIM now has 3 Il-76."
    assert [c.site_id for c in extract_text(text, registry)] == ["hmeimim", "hmeimim"]


def test_plain_text_title_is_not_a_claim_but_a_post_is_whole() -> None:
    article = (
        "Russia pulls warships out of Tartus\n\nBy A. Writer, December 10, 2024\n\n"
        "Imagery from Monday shows 3 frigates leaving Tartus.\n"
    )
    (claim,) = extract_text(article, REGISTRY)
    assert claim.claim.startswith("Imagery from Monday")
    assert (claim.published, claim.event_date) == (date(2024, 12, 10), date(2024, 12, 9))
    post = (
        "kind: post\nauthor: @spotter\ndate: 2024-12-10\n\nTartous now\n\n2x corvette at the pier"
    )
    (whole,) = extract_text(post, REGISTRY)
    assert whole.claim == "Tartous now 2x corvette at the pier"
    assert (whole.kind, whole.source, whole.quantities) == (
        "post",
        "@spotter",
        (Quantity(count=2, what="corvette"),),
    )


def test_cli_extract_refuses_a_bad_grade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    post = str(TEXTS / "tartuswatch-post.txt")
    db = tmp_path / "g.db"
    with pytest.raises(SystemExit):
        main(["evidence", "extract", post, "--sites", "syria-2024", "--add", "--grade", "Z9",
              "--db", f"sqlite:///{db}"])  # fmt: skip
    assert "admiralty grade" in capsys.readouterr().err
    assert not db.exists()  # nothing opened before the grade was checked


_PIECES = st.sampled_from(
    ["Tartus", "Hmeimim", "4x", "jets", "on the", "9th", "Tuesday", "Dec.", "13", "2024", "<p>",
     "</p>", "<blockquote>", "</blockquote>", "\n> ", "—", "@x", "\n", "\n\n", "date", ":", "#",
     "<article>", "(", ")", "|", "x3", "Il-76", "said", "minister", "http://a.example/c",
     "31st", "February", "30"]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=30),
    suffix=st.sampled_from(["", ".md", ".html"]),
)
def test_any_text_gives_claims_or_one_input_error(parts: list[str], suffix: str) -> None:
    text = "date 2024-12-03\n\n" + " ".join(parts)
    claims = extract_text(text, REGISTRY, suffix=suffix)  # never refused
    for c in claims:
        assert c.site_id in {"khmeimim", "tartus"} and c.claim.strip()
        assert all(q.count >= 0 and q.what for q in c.quantities)


# ------------------------------------------------------------- real-text styles (issue 20)


def test_inline_date_on_the_first_line_is_metadata_and_its_text_a_claim() -> None:
    text = (
        "date 2024-12-05 The Russian navy ships moored at Tartus left on Tuesday, "
        "images show.\nOriginal url: https://news.example.org/a\n"
    )
    (claim,) = extract_text(text, REGISTRY)
    assert claim.claim.startswith("The Russian navy ships moored at Tartus")
    assert (claim.published, claim.event_date) == (date(2024, 12, 5), date(2024, 12, 3))
    assert claim.source_url == "https://news.example.org/a"


@pytest.mark.parametrize(
    "lead",
    [
        "kind: post\nauthor: @spotter\ndate: 2024-12-10\n\n",  # one post, filed whole
        "date 2024-12-10\n\n",  # an article: the heading gives its site to the line below
    ],
)
def test_a_flag_heading_gives_its_site_to_the_lines_below(lead: str) -> None:
    text = lead + "🇷🇺 Khmeimim Air Base\nLooking pretty empty, only 5 aircraft visible\n"
    (claim,) = extract_text(text, REGISTRY)
    assert claim.site_id == "khmeimim" and "Looking pretty empty" in claim.claim
    assert [(q.count, q.what) for q in claim.quantities] == [(5, "aircraft")]


def test_a_headline_or_a_heading_naming_no_site_gives_none() -> None:
    text = (
        "date 2024-12-10\n\n# Russian transport aircraft shuttle out of Latakia air base\n\n"
        "Assad fled to Moscow on Sunday.\n\n## Latakia port\n\nThree ships left on Monday.\n"
    )
    assert extract_text(text, REGISTRY) == []


def test_observed_and_hedged_event_dates_are_kept_apart() -> None:
    text = (
        "date 2024-12-05\n\nImagery from 3 December confirms the flotilla has departed "
        "Tartus, likely on 2 December.\n"
    )
    (claim,) = extract_text(text, REGISTRY)
    assert (claim.event_date, claim.event_date_estimate) == (date(2024, 12, 3), date(2024, 12, 2))
    record = claim.record()
    assert (record["event_date"], record["event_date_estimate"]) == ("2024-12-03", "2024-12-02")
    (entry,) = ledger_entries([claim])
    assert entry.time == datetime(2024, 12, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sentence", "stated", "hedged"),
    [
        ("The ships probably sailed from Tartus around 1 December.", None, "2024-12-01"),
        ("They left Tartus on or about 2 December.", None, "2024-12-02"),
        ("They left Tartus on 2 Dec or so.", None, "2024-12-02"),
        ("The flotilla is believed to have left on 2 December.", None, "2024-12-02"),
        ("Images of 4 December show Tartus empty.", "2024-12-04", None),
        ("Talks about the bases at Tartus on Wednesday.", "2024-12-04", None),
        # the publication's own weekday is that day (wire style), "last Thursday" a week ago
        ("Talks about the bases at Tartus on Thursday.", "2024-12-05", None),
        ("Talks about the bases at Tartus last Thursday.", "2024-11-28", None),
        # a range of days states its first day, whichever way it is written
        ("Images taken between 1 and 3 December show two An-124 at Hmeimim.", "2024-12-01", None),
        ("Il-76s were seen at Khmeimim on Dec. 1-3.", "2024-12-01", None),
        ("Images of 1\u20133 December 2024 show Tartus empty.", "2024-12-01", None),
        ("From December 1 to December 3, the frigates left Tartus.", "2024-12-01", None),
        ("The frigates left Tartus, likely between 1 and 3 December.", None, "2024-12-01"),
    ],
)
def test_hedges(sentence: str, stated: str | None, hedged: str | None) -> None:
    from basewatch.context.textev import resolve_event_dates

    got = resolve_event_dates(sentence, date(2024, 12, 5))
    assert tuple(d.isoformat() if d else None for d in got) == (stated, hedged)


def test_source_url_only_from_the_texts_own_metadata() -> None:
    quoted = (
        "date 2024-12-10\n\nAnalysts shared https://t.co/abc123 showing 2 corvettes "
        "leaving Tartus on Monday.\n"
    )
    (claim,) = extract_text(quoted, REGISTRY)
    assert claim.source_url == ""
    post = (
        "date: 2024-12-14\n\n> Tartous: 3 landing ships loading yesterday https://t.co/x1\n"
        "> — @NavyWatch, 13 Dec 2024\n"
    )
    (embedded,) = extract_text(post, REGISTRY)
    assert (embedded.source, embedded.source_url) == ("@NavyWatch", "")


@pytest.mark.parametrize(
    ("text", "published", "source"),
    [
        ("# Tartus in Dec 2024\n\nTARTUS, Syria, Dec 5 (Reuters) - Imagery shows 4 jets at "
         "Khmeimim.", "2024-12-05", "Reuters"),
        ("Title\n\nBy Ana Reporter, December 5, 2024\n\nImagery shows 4 jets at Khmeimim.",
         "2024-12-05", "Ana Reporter"),
        ("Thread by @spotter · Dec 6, 2024\n\nImagery shows 4 jets at Khmeimim.", "2024-12-06",
         "@spotter"),
        ("Some title\nPublished: 7 December 2024\n\nImagery shows 4 jets at Khmeimim.",
         "2024-12-07", "x.txt"),
        ("Title: Jets\nURL Source: https://www.news.example/jets\nPublished Time: "
         "2024-12-08T10:12:00Z\n\nMarkdown Content:\nImagery shows 4 jets at Khmeimim.",
         "2024-12-08", "news.example"),  # a web page saved as Markdown by a reader tool
    ],
)  # fmt: skip
def test_datelines_and_bylines_anywhere_in_the_first_lines(
    text: str, published: str, source: str
) -> None:
    (claim,) = extract_text(text, REGISTRY, name="x.txt")
    assert claim.published.isoformat() == published if claim.published else False
    assert claim.source == source


def test_a_sentence_starting_with_by_is_not_a_byline() -> None:
    text = "date 2024-12-10\n\nBy Monday, the ships had left Tartus.\n"
    (claim,) = extract_text(text, REGISTRY)
    assert claim.claim == "By Monday, the ships had left Tartus."
    assert claim.event_date == date(2024, 12, 9)


def test_cli_undated_text_warns_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "thread.txt"
    path.write_text("🇷🇺 Khmeimim Air Base\nLooking pretty empty, only 5 aircraft visible\n")
    main(["evidence", "extract", str(path), "--sites", "syria-2024", "--format", "json"])
    out, err = capsys.readouterr()
    (record,) = json.loads(out)
    assert (record["site_id"], record["published"], record["quantities"]) == (
        "khmeimim",
        None,
        [{"count": 5, "what": "aircraft"}],
    )
    assert "warning" in err and "no publication date found" in err and str(path) in err
    empty = tmp_path / "none.txt"
    empty.write_text("date 2024-12-10\n\nNothing about the bases today.\n")
    with pytest.raises(SystemExit) as info:
        main(["evidence", "extract", str(empty), "--sites", "syria-2024"])
    assert info.value.code == 1 and "no claims about the sites" in capsys.readouterr().err


def test_a_numbered_thread_is_read_sentence_by_sentence() -> None:
    text = (
        "2024-12-07 — Thread on the Russian bases 🧵\n\n"
        "1/ Khmeimim: 3 Il-76 on the apron this morning.\n\n"
        "2/ Tartus: the piers are empty, 2 corvettes gone since Thursday.\n"
    )
    claims = extract_text(text, REGISTRY)
    assert [(c.site_id, c.kind, c.published, c.event_date) for c in claims] == [
        ("khmeimim", "post", date(2024, 12, 7), date(2024, 12, 7)),
        ("tartus", "post", date(2024, 12, 7), date(2024, 12, 5)),
    ]
    assert claims[0].claim == "Khmeimim: 3 Il-76 on the apron this morning."
    assert [(q.count, q.what) for q in claims[0].quantities] == [(3, "Il-76")]


def test_html_subheadings_and_dotted_dates() -> None:
    page = (
        '<html><head><meta property="article:published_time" content="2024-12-05"></head>'
        "<body><article><h1>Russia in Syria: what the images show</h1>"
        "<h2>Tartus naval base</h2><p>The piers were empty on Tuesday, with 2 corvettes gone.</p>"
        "<h2>Latakia</h2><p>Ships left on Monday.</p></article></body></html>"
    )
    (claim,) = extract_text(page, REGISTRY, suffix=".html")
    assert (claim.site_id, claim.event_date) == ("tartus", date(2024, 12, 3))
    post = "Rybar, [05.12.2024 14:32]\n\nTartus: 3 frigates left the base on Tuesday."
    (claim,) = extract_text(post, REGISTRY)
    assert (claim.published, claim.event_date) == (date(2024, 12, 5), date(2024, 12, 3))


# --------------------------------------------------------------------------- held-out texts

# Held-out texts in styles the texts above do not cover (a full news page with cookie banner,
# share buttons and "More on this story"; Reuters wire copy as pasted from the site; a blog
# post with image captions and an "Update, Dec 14:" paragraph; a translated Telegram post; a
# think-tank commentary with footnotes; US date formats; TASS copy with other spellings; an
# X post copied from the web page; a situation report with bullets and distractor places).
# The answer key below was written with the texts, before the extractor was run on them.
HELDOUT_GOLD: dict[str, list[Gold]] = {
    "news-page-khmeimim.html": [
        ("Two Il-76 transport aircraft on the apron at Hmeimim", "khmeimim", "2024-12-14",
         "2024-12-12", "article", [(2, "Il-76 transport aircraft")]),  # a figure caption
        ("Russia has sharply reduced its air presence", "khmeimim", "2024-12-14", "2024-12-13",
         "article", [(6, "combat jets")]),
        # "an An-124 cargo plane": one, counted since 2026-12-06 (third session)
        ("Images taken by Maxar Technologies on Thursday", "khmeimim", "2024-12-14",
         "2024-12-12", "article", [(1, "An-124 cargo plane"), (12, "military vehicles")]),
        ("Kremlin spokesman Dmitry Peskov said on Friday", "khmeimim", "2024-12-14",
         "2024-12-13", "official", []),
        ("Kremlin spokesman Dmitry Peskov said on Friday", "tartus", "2024-12-14",
         "2024-12-13", "official", []),
    ],
    "wire-reuters-withdrawal.txt": [
        ("Satellite imagery from Maxar taken on Friday", "khmeimim", "2024-12-16", "2024-12-13",
         "article", [(2, "Antonov An-124 cargo planes")]),
        ("At the naval facility at Tartus", "tartus", "2024-12-16", "2024-12-10", "article",
         [(2, "frigates")]),
        ("A Syrian security official said", "khmeimim", "2024-12-16", "2024-12-15",
         "official", []),
    ],
    "blog-imagery-captions.md": [
        ("Three Il-76 and one An-124", "khmeimim", "2024-12-13", "2024-12-13", "article",
         [(3, "Il-76"), (1, "An-124")]),  # the caption's credit line dates it
        ("Imagery from Friday morning", "khmeimim", "2024-12-13", "2024-12-13", "article",
         [(2, "Il-76s"), (12, "vehicles")]),
        ("On the main apron, by contrast, no aircraft", "khmeimim", "2024-12-13", None,
         "article", [(0, "aircraft")]),
        ("The piers at Tartus were empty on Thursday", "tartus", "2024-12-13", "2024-12-12",
         "article", []),
        # "yesterday" of an "Update, Dec 14:" paragraph is the 13th
        ("Two Ropucha-class landing ships", "tartus", "2024-12-13", "2024-12-13", "article",
         [(2, "Ropucha-class landing ships")]),
    ],
    "telegram-translated.txt": [
        # a post naming two sites is read sentence by sentence (2026-12-06, third session):
        # it was one claim per site, each with every count (Tartus had 6 Il-76MD)
        ("✈️ Over the past 24 hours", "khmeimim", "2024-12-15", "2024-12-15", "post",
         [(6, "Il-76MD"), (1, "An-124")]),
        ("🚢 In Tartous, the landing ships", "tartus", "2024-12-15", "2024-12-15", "post", []),
        ("❗️ No aircraft remain", "khmeimim", "2024-12-15", "2024-12-15", "post",
         [(0, "aircraft")]),
    ],
    "thinktank-footnotes.md": [
        ("Between December 9 and 16", "khmeimim", "2024-12-18", "2024-12-09", "article",
         [(20, "sorties")]),
        ("By December 16, commercial imagery", "khmeimim", "2024-12-18", "2024-12-16",
         "article", [(4, "Su-24 bombers"), (2, "Ka-52 helicopters")]),
        ("At Tartus, the Russian navy's small presence", "tartus", "2024-12-18", "2024-12-09",
         "article", [(2, "frigates")]),
    ],
    "us-dates-article.txt": [
        ("Satellite photos from Planet Labs dated 12/03/2024", "tartus", "2024-12-10",
         "2024-12-03", "article", [(2, "Karakurt-class corvettes")]),
        ("By Friday, Dec. 6, the ships had left Tartus", "tartus", "2024-12-10", "2024-12-06",
         "article", [(0, "warships")]),
        ("On Monday, a Russian Il-76 transport", "khmeimim", "2024-12-10", "2024-12-09",
         "article", []),
        ("Pentagon spokesman Maj. Gen. Pat Ryder", "khmeimim", "2024-12-10", "2024-12-05",
         "official", []),
    ],
    "tass-spellings.txt": [
        ("Russian military aircraft continue to operate", "khmeimim", "2024-12-14", None,
         "official", []),
        ("Russian military aircraft continue to operate", "tartus", "2024-12-14", None,
         "official", []),
        ('"Two Il-76 aircraft and a dozen helicopters', "khmeimim", "2024-12-14", None,
         "article", [(2, "Il-76 aircraft"), (12, "helicopters")]),
        ("According to the source, no aircraft", "khmeimim", "2024-12-14", "2024-12-09",
         "article", [(0, "aircraft")]),
        ("At the naval facility in Tartous", "tartus", "2024-12-14", "2024-12-13", "article",
         [(2, "landing ships")]),
        ("Flights from the Hmaimim base", "khmeimim", "2024-12-14", None, "article", []),
    ],
    "x-post-copied.txt": [
        ("Two Il-76 and one An-124 on the ramp at Hmeimim", "khmeimim", "2024-12-13",
         "2024-12-13", "post", [(2, "Il-76"), (1, "An-124"), (12, "trucks"), (0, "fighters")]),
    ],
    "briefing-distractors.txt": [
        ("Russian forces continued to withdraw", "khmeimim", "2024-12-11", "2024-12-10",
         "article", []),
        ("Satellite imagery captured on December 10", "tartus", "2024-12-11", "2024-12-10",
         "article", [(0, "Russian warships"), (3, "vessels")]),
        ("Five Russian transport aircraft left", "khmeimim", "2024-12-11", "2024-12-09",
         "article", [(5, "Russian transport aircraft")]),
    ],
}  # fmt: skip
HELDOUT_URLS = {
    "news-page-khmeimim.html": (
        "https://www.levantherald.example.com/world/2024/12/14/russia-khmeimim-drawdown"
    ),
    "wire-reuters-withdrawal.txt": "",
    "blog-imagery-captions.md": "",
    "telegram-translated.txt": "https://t.me/rybar/66001",
    "thinktank-footnotes.md": "https://www.meast-institute.example.org/analysis/after-assad-russia-bases",
    "us-dates-article.txt": "",
    "tass-spellings.txt": "",
    "x-post-copied.txt": "",
    "briefing-distractors.txt": "",
}
HELDOUT_NOT_FILED = {
    # boilerplate: banners, tickers, links to other stories, tags, share and subscribe lines
    "news-page-khmeimim.html": ["LIVE: Russian convoy", "READ MORE", "Russian warships leave",
                                "Four Su-34 jets", "Drone strike", "Topics:", "port of Latakia",
                                "since 2015"],
    "wire-reuters-withdrawal.txt": ["since 1971", "Read Next", "Tartus province",
                                    "Reporting by"],
    "blog-imagery-captions.md": ["Russian ships sail from Tartus", "Su-24 bombers leave",
                                 "Share this"],
    "telegram-translated.txt": ["#Syria", "Subscribe", "Translated from"],
    "thinktank-footnotes.md": ["Africa Corps", "dates back to", "imagery shows 4 Su-24",
                               "Russian warships leave Tartus", "Flight-tracking data"],
    "us-dates-article.txt": ["established in 1971", "Umayyad Square", "Copyright"],
    "tass-spellings.txt": ["since 2015", "Peskov said earlier"],
    "x-post-copied.txt": ["Views", "AuroraIntel @AuroraIntel"],
    "briefing-distractors.txt": ["Tartus city", "Manbij", "Kuweires"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HELDOUT_GOLD))
def test_heldout_texts_match_their_answer_key(name: str) -> None:
    path = HELDOUT / name
    claims = extract_text(path.read_text(encoding="utf-8"), REGISTRY, name=name, suffix=path.suffix)
    rows = [_row(c) for c in claims]
    gold = HELDOUT_GOLD[name]
    missing = [g for g in gold if not any(_matches(r, g) for r in rows)]
    extra = [r for r in rows if not any(_matches(r, g) for g in gold)]
    assert (missing, extra) == ([], [])
    assert len(rows) == len(gold)
    assert {c.source_url for c in claims} == {HELDOUT_URLS[name]}
    text = " ".join(c.claim for c in claims)
    assert [s for s in HELDOUT_NOT_FILED[name] if s in text] == []


def test_heldout_sources() -> None:
    claims = extract_files(sorted(HELDOUT.iterdir()), REGISTRY).claims
    sources = {Path(c.file).name: c.source for c in claims}
    assert sources["wire-reuters-withdrawal.txt"] == "Reuters"  # "MOSCOW/DUBAI, Dec 16 (Reuters) -"
    assert sources["x-post-copied.txt"] == "@AuroraIntel"
    assert sources["news-page-khmeimim.html"] == "Levant Herald"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No aircraft were visible on the apron.", [(0, "aircraft")]),
        ("no Russian warships docked and three vessels offshore", [(0, "Russian warships"),
                                                                   (3, "vessels")]),
        ("The ships were no longer there.", []),
        ("No decision has been taken.", []),
    ],
)  # fmt: skip
def test_no_things_is_a_count_of_zero(text: str, expected: list[tuple[int, str]]) -> None:
    assert [(q.count, q.what) for q in find_quantities(text)] == expected


def test_slashed_dates_follow_the_texts_month_order() -> None:
    from basewatch.context.textev import month_first, resolve_event_dates

    us = "By Friday, Dec. 6, the ships had left. Published December 10, 2024."
    assert month_first(us) and not month_first("On 6 Dec the ships had left, 10 December.")
    base = date(2024, 12, 10)
    assert resolve_event_dates("Photos dated 12/03/2024 show Tartus.", base, month_first=True)[
        0
    ] == date(2024, 12, 3)
    assert resolve_event_dates("Photos dated 12/03/2024 show Tartus.", base)[0] == date(2024, 3, 12)
    assert resolve_event_dates("Photos dated 13/11/2024.", base, month_first=True)[0] == date(
        2024, 11, 13
    )  # 13 cannot be a month


def test_an_update_paragraph_reads_its_dates_against_its_own_day() -> None:
    text = (
        "date 2024-12-13\n\nThe piers at Tartus were empty on Thursday.\n\n"
        "**Update, Dec 14:** Two landing ships returned to Tartus yesterday.\n"
    )
    first, update = extract_text(text, REGISTRY)
    assert first.event_date == date(2024, 12, 12)
    assert update.claim.startswith("Two landing ships")
    assert (update.published, update.event_date) == (date(2024, 12, 13), date(2024, 12, 13))


def test_a_caption_credit_dates_its_caption_and_is_not_a_claim() -> None:
    text = (
        "date 2024-12-14\n\nWhat the imagery shows.\n\n*Three Il-76 on the apron at Khmeimim. "
        "Satellite image © 2024 Maxar Technologies, taken Dec. 13, 2024*\n"
    )
    (claim,) = extract_text(text, REGISTRY)
    assert claim.claim == "Three Il-76 on the apron at Khmeimim."
    assert claim.event_date == date(2024, 12, 13)


@pytest.mark.parametrize(
    ("spelling", "site_id"),
    [("Hmaimim", "khmeimim"), ("Hemeimim", None), ("Khmeymim", "khmeimim"),
     ("TARTOUS", "tartus"), ("Tartus province", None), ("the governorate of Tartus", None),
     ("Tartus city", None), ("Tartus naval base", "tartus")],
)  # fmt: skip
def test_spelling_variants_and_places_that_are_not_the_base(
    spelling: str, site_id: str | None
) -> None:
    claims = extract_text(
        f"date 2024-12-03\n\nImagery on 2 Dec shows 4 jets at {spelling}.\n", REGISTRY
    )
    assert [c.site_id for c in claims] == ([site_id] if site_id else [])


def test_page_furniture_is_not_read() -> None:
    text = (
        "date 2024-12-13\n\nTwo Il-76 left Khmeimim on Thursday.\n\n"
        "READ MORE: Russian warships leave Tartus on Tuesday\n\n"
        "#Syria #Hmeimim #Tartus\n\nSubscribe to @channel\n\n"
        "Related\n\nRussian ships sail from Tartus\nDecember 3, 2024\n"
    )
    claims = extract_text(text, REGISTRY)
    assert [c.claim for c in claims] == ["Two Il-76 left Khmeimim on Thursday."]
    notes = (
        "date 2024-12-18\n\nFour jets left Hmeimim on 16 December.[1] Two more on the 17th.\n\n"
        'Notes\n-----\n\n1. Maxar, "Hmeimim imagery shows 4 Su-24 bombers", December 16, 2024.\n'
    )
    (claim,) = extract_text(notes, REGISTRY)
    assert claim.claim == "Four jets left Hmeimim on 16 December."


def test_slashed_dates_that_read_two_ways_are_warned_about(tmp_path: Path) -> None:
    """'Published 12/03/2024' was read as 12 March without a word; a US reader meant 3 Dec."""
    from basewatch.sites import load_registry

    ambiguous = tmp_path / "us.txt"
    ambiguous.write_text("Published 12/03/2024\nTwo Su-35 jets were at Khmeimim on 11/03/2024.\n")
    clear = tmp_path / "iso.txt"
    clear.write_text("Published 2024-12-03\nTwo Su-35 jets were at Khmeimim on 25/11/2024.\n")
    result = extract_files([ambiguous, clear], load_registry("syria-2024"))
    notes = [w.message for w in result.warnings]
    assert len(notes) == 1 and "'12/03/2024' are read day first: 12 March 2024" in notes[0]
    us = tmp_path / "us2.txt"  # the month-first reading names the text's own example
    us.write_text("Published 2024-12-05\nTwo Su-35 left Khmeimim on 12/03/2024, two on Dec. 4.\n")
    (note,) = [w.message for w in extract_files([us], load_registry("syria-2024")).warnings]
    assert "read month first (the text writes dates such as 'Dec. 4'): 03 December 2024" in note
