"""The evidence ledger: graded, cited claims about sites (images, flights, posts, articles).

Analysts in December 2024 cited posts, articles, official statements, flight tracks and
images. Each ledger entry keeps the site, the time the claim refers to, the source's
name and URL, its kind, the claim (what the source says) and an admiralty grade: source
reliability ``A`` (completely reliable) to ``E`` (unreliable) and ``F`` (cannot be judged),
and information credibility ``1`` (confirmed) to ``5`` (improbable) and ``6`` (cannot be
judged). Entries live in the store's ``evidence`` table.

One schema everywhere (``evidence add``/``import``/``extract``, ``POST /api/evidence``,
the store, the report): the fields of :data:`FIELDS`, the kinds of :data:`KINDS` and the
grade. Kinds of the old API vocabulary are read through :data:`LEGACY_KINDS`.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from basewatch.errors import InputError

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # light at import: the CLI reads KINDS without loading the store
    from basewatch.context.tracks import FlightEvent
    from basewatch.store import Store

__all__ = [
    "CREDIBILITY",
    "FIELDS",
    "KINDS",
    "LEGACY_KINDS",
    "RELIABILITY",
    "EvidenceEntry",
    "add_entries",
    "add_flight_events",
    "check_sites",
    "entry_record",
    "list_entries",
    "make_entry",
    "normalise_kind",
    "parse_grade",
    "read_entries",
]

KINDS = ("imagery", "flight", "post", "article", "official", "video", "other")
"""Kinds of evidence, the one vocabulary of the CLI, the API, extraction and the store."""
LEGACY_KINDS = {"image": "imagery", "track": "flight", "text": "other"}
"""Kinds of the old ``POST /api/evidence`` vocabulary and what they now are (migration 0005
rewrote the stored ones; the API still reads them, with a deprecation notice)."""
FIELDS = ("id", "site_id", "time", "source", "url", "kind", "claim", "grade")
"""Fields of a ledger entry as ``evidence list --format json`` and the API give it."""
RELIABILITY = {
    "A": "completely reliable",
    "B": "usually reliable",
    "C": "fairly reliable",
    "D": "not usually reliable",
    "E": "unreliable",
    "F": "reliability cannot be judged",
}
"""Admiralty code: source reliability."""
CREDIBILITY = {
    "1": "confirmed by other sources",
    "2": "probably true",
    "3": "possibly true",
    "4": "doubtful",
    "5": "improbable",
    "6": "truth cannot be judged",
}
"""Admiralty code: information credibility."""


@dataclass(frozen=True, kw_only=True)
class EvidenceEntry:
    """One graded claim about a site."""

    site_id: str
    """Site the claim is about."""
    time: datetime
    """When the claimed fact happened or was observed (timezone-aware UTC)."""
    source: str
    """Source name (outlet, account, agency, sensor)."""
    url: str
    """Where to read it ('' when none)."""
    kind: str
    """One of :data:`KINDS`."""
    claim: str
    """The claim, in one or two sentences."""
    reliability: str = "F"
    """Source reliability, A-F."""
    credibility: str = "6"
    """Information credibility, 1-6."""

    @property
    def grade(self) -> str:
        """Admiralty grade such as ``B2``."""
        return f"{self.reliability}{self.credibility}"


def parse_grade(grade: str, *, where: str = "grade") -> tuple[str, str]:
    """Split an admiralty grade (``B2``, ``b 2``) into reliability and credibility."""
    text = "".join(str(grade).split()).upper()
    if len(text) != 2 or text[0] not in RELIABILITY or text[1] not in CREDIBILITY:
        raise InputError(
            f"{where} is {grade!r}; write an admiralty grade: a letter A-F (source reliability) "
            "then a digit 1-6 (information credibility), e.g. B2"
        )
    return text[0], text[1]


def normalise_kind(kind: Any, *, where: str = "evidence") -> tuple[str, str | None]:
    """A kind of :data:`KINDS` and, for an old API kind (``image``, ``track``, ``text``), a
    notice saying what it became; :class:`InputError` for anything else."""
    text = str(kind or "").strip().lower()
    if text in KINDS:
        return text, None
    if text in LEGACY_KINDS:
        new = LEGACY_KINDS[text]
        return new, f"kind {text!r} is deprecated and was read as {new!r}"
    raise InputError(f"{where}: kind is {text!r}; use one of {', '.join(KINDS)}")


def _parse_time(value: Any, where: str) -> datetime:
    """An ISO 8601 date or date-time as aware UTC (naive values are taken as UTC)."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value or "").strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InputError(
                f"{where}: time is {value!r}; write ISO 8601, e.g. 2024-12-03 or "
                "2024-12-03T08:20:00Z"
            ) from exc
    if moment.tzinfo is None:
        if not isinstance(value, datetime) and len(text) > 10:  # a clock time, not a day
            log.warning(
                "%s: time %r has no time zone and is read as UTC; if it is a local time, "
                "write it with its offset (2024-12-03T10:20:00+02:00)",
                where,
                text,
            )
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _web_address(link: str) -> bool:
    """Whether ``link`` is an http(s) address, or one written without its scheme
    (``t.me/channel/123``); never another scheme (``javascript:``, ``file:``), which a report
    or the dashboard would otherwise turn into a link."""
    scheme = urlsplit(link).scheme.lower()
    if scheme:
        return scheme in ("http", "https") and not any(c.isspace() for c in link)
    return not any(c.isspace() for c in link) and "." in link.split("/")[0]


EARLIEST_YEAR = 1900
"""Evidence times before this year are refused as typing mistakes (``0024-12-03``)."""


def make_entry(
    *,
    site_id: str,
    time: Any,
    source: str,
    url: str = "",
    kind: str,
    claim: str,
    grade: str = "F6",
    where: str = "evidence",
) -> EvidenceEntry:
    """Validate loose inputs into an :class:`EvidenceEntry` (errors name ``where``).

    ``kind`` is one of :data:`KINDS`; an old API kind (:data:`LEGACY_KINDS`) is mapped.
    """
    site_id, source, claim = str(site_id or "").strip(), str(source or "").strip(), claim
    if not site_id:
        raise InputError(f"{where}: no site; give the id of the site the claim is about")
    if not source:
        raise InputError(f"{where}: no source; name the outlet, account or sensor")
    if not str(claim or "").strip():
        raise InputError(f"{where}: no claim; write what the source says")
    kind, _notice = normalise_kind(kind, where=where)
    reliability, credibility = parse_grade(grade or "F6", where=f"{where}: grade")
    moment = _parse_time(time, where)
    if moment > datetime.now(UTC) + timedelta(days=1):
        raise InputError(
            f"{where}: time {moment:%Y-%m-%d} is in the future; give when the source said it"
        )
    if moment.year < EARLIEST_YEAR:
        raise InputError(
            f"{where}: time {moment.isoformat()} is before {EARLIEST_YEAR}; give when the "
            "source said it, with a four-digit year (YYYY-MM-DD)"
        )
    link = str(url or "").strip()
    if link and not _web_address(link):
        raise InputError(
            f"{where}: url {link!r} is not a web address; give it with http:// or https://, "
            "or leave it out"
        )
    return EvidenceEntry(
        site_id=site_id,
        time=moment,
        source=source,
        url=link,
        kind=kind,
        claim=str(claim).strip(),
        reliability=reliability,
        credibility=credibility,
    )


def check_sites(
    store: Store, site_ids: Iterable[str], *, known_sites: Iterable[str] | None = None
) -> None:
    """Raise :class:`InputError` unless every id is a known site.

    Known sites are ``known_sites`` (a registry's ids) when given, else the sites in the
    store; a store without sites and no ``known_sites`` is an error (there is nothing to
    check against).
    """
    if known_sites is not None:
        known, where = set(known_sites), "the registry"
    else:
        known, where = {s.id for s in store.sites()}, f"the store {store.url}"
        if not known:
            raise InputError(
                f"the store {store.url} has no sites to check evidence against; give the "
                "registry with --sites REGISTRY, or store the sites first with "
                f"'basewatch sites import REGISTRY --db {store.url}'"
            )
    for site_id in site_ids:
        if site_id not in known:
            near = ", ".join(sorted(known)[:10])
            raise InputError(
                f"evidence about site {site_id!r}, which is not in {where}; known sites: "
                f"{near or 'none'}{' ...' if len(known) > 10 else ''}; check the id"
            )


def add_entries(
    store: Store, entries: Iterable[EvidenceEntry], *, known_sites: Iterable[str] | None = None
) -> list[int]:
    """Store entries (idempotent) and return their ids.

    Every entry's site must be known (:func:`check_sites`): in ``known_sites`` when given,
    else among the store's sites. An unknown site raises :class:`InputError` before
    anything is written.
    """
    entries = list(entries)
    check_sites(store, {e.site_id for e in entries}, known_sites=known_sites)
    return [
        store.add_evidence(
            site_id=e.site_id,
            time=e.time,
            source=e.source,
            url=e.url,
            claim=e.claim,
            kind=e.kind,
            reliability=e.reliability,
            credibility=e.credibility,
        )
        for e in entries
    ]


def list_entries(
    store: Store, *, site_id: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """Stored entries as JSON-ready records (:func:`entry_record`), by site and time."""
    return [
        entry_record(row)
        for row in store.evidence(site_id=site_id)
        if kind is None or row["kind"] == kind
    ]


def entry_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored entry (``Store.evidence`` row) as the JSON record of :data:`FIELDS`:
    ``time`` ISO 8601 UTC with ``Z``, ``grade`` like ``B2``."""
    return {
        "id": row["id"],
        "site_id": row["site_id"],
        "time": row["time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": row["source"],
        "url": row["url"],
        "kind": row["kind"],
        "claim": row["claim"],
        "grade": f"{row['reliability']}{row['credibility']}",
    }


def read_entries(path: Path) -> list[EvidenceEntry]:
    """Read entries from CSV (header row) or JSON (a list of objects).

    Fields: ``site_id`` (or ``site``), ``time``, ``source``, ``url``, ``kind``, ``claim``
    (``text`` is read as a deprecated alias) and ``grade`` (or ``reliability`` +
    ``credibility``). Errors name the file and the row (CSV line number, JSON index).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"evidence file {str(path)!r} cannot be read ({exc})") from exc
    if path.suffix.lower() == ".json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"evidence file {str(path)!r} is not valid JSON ({exc}); write a list of objects"
            ) from exc
        if not isinstance(records, list):
            raise InputError(f"evidence file {str(path)!r} must hold a JSON list of objects")
        rows = [(f"record {i}", r) for i, r in enumerate(records)]
    else:
        from basewatch.sites import csv_dialect

        reader = csv.DictReader(text.splitlines(), dialect=csv_dialect(text[:16384]))
        header = [str(f).strip().lower() for f in reader.fieldnames or []]
        _check_header(path, header)
        reader.fieldnames = header
        rows = [(f"row {i + 2}", r) for i, r in enumerate(reader)]
    if not rows:
        raise InputError(f"evidence file {str(path)!r} has no entries")
    return [_entry(path, label, row) for label, row in rows]


def _check_header(path: Path, header: list[str]) -> None:
    """Refuse a CSV header without the site, time, source and claim columns, naming the
    columns it has."""
    needs = {"site_id": ("site_id", "site"), "time": ("time",), "source": ("source",)}
    needs["claim"] = ("claim", "text")
    missing = [name for name, names in needs.items() if not set(names) & set(header)]
    if header and missing:
        raise InputError(
            f"evidence file {str(path)!r} has no {', '.join(missing)} column "
            f"(its columns: {', '.join(h for h in header if h) or 'none'}); the header must "
            f"name {', '.join(f for f in FIELDS if f != 'id')} (site_id, time, source and "
            "claim required)"
        )


def _entry(path: Path, label: str, row: Any) -> EvidenceEntry:
    """One imported record."""
    where = f"evidence file {str(path)!r}, {label}"
    if not isinstance(row, Mapping):
        raise InputError(f"{where} is not an object with site_id, time, source, kind, claim")
    grade = row.get("grade") or f"{row.get('reliability') or 'F'}{row.get('credibility') or '6'}"
    return make_entry(
        site_id=row.get("site_id") or row.get("site") or "",
        time=row.get("time"),
        source=row.get("source") or "",
        url=row.get("url") or "",
        kind=row.get("kind") or "",
        claim=row.get("claim") or row.get("text") or "",
        grade=str(grade),
        where=where,
    )


def add_flight_events(
    store: Store,
    events: Iterable[FlightEvent],
    *,
    source: str,
    known_sites: Iterable[str] | None = None,
) -> int:
    """Record airfield events as ``flight`` evidence (grade C2: ADS-B, open feed); return count.

    Grade C2: an open ADS-B feed is fairly reliable and a transponder position is
    probably true (it can be spoofed or misdecoded). ``known_sites`` defaults to the
    events' own sites (events are found at the sites of a registry).
    """
    events = list(events)
    entries = [
        EvidenceEntry(
            site_id=e.site_id,
            time=e.time,
            source=f"ADS-B ({source})",
            url="",
            kind="flight",
            claim=(
                f"{e.callsign or e.icao24} ({e.typecode or 'type unknown'}, icao24 {e.icao24}) "
                f"{'departed from' if e.kind == 'departure' else 'arrived at'} {e.site_id}"
            ),
            reliability="C",
            credibility="2",
        )
        for e in events
    ]
    if known_sites is None:
        known_sites = {e.site_id for e in events}
    return len(add_entries(store, entries, known_sites=known_sites))
