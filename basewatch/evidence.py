"""The evidence ledger: graded, cited claims about sites (images, flights, posts, articles).

Analysts in December 2024 cited posts, articles, official statements, flight tracks and
images. Each ledger entry keeps the site, the time the claim refers to, the source's
name and URL, its kind, the claim text and an admiralty grade: source reliability
``A`` (completely reliable) to ``E`` (unreliable) and ``F`` (cannot be judged), and
information credibility ``1`` (confirmed) to ``5`` (improbable) and ``6`` (cannot be
judged). Entries live in the store's ``evidence`` table.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from basewatch.errors import InputError
from basewatch.store import Store
from basewatch.tracks import FlightEvent

__all__ = [
    "CREDIBILITY",
    "KINDS",
    "RELIABILITY",
    "EvidenceEntry",
    "add_entries",
    "add_flight_events",
    "list_entries",
    "make_entry",
    "parse_grade",
    "read_entries",
]

KINDS = ("imagery", "flight", "post", "article", "official")
"""Kinds of evidence."""
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
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
    """Validate loose inputs into an :class:`EvidenceEntry` (errors name ``where``)."""
    site_id, source, claim = str(site_id or "").strip(), str(source or "").strip(), claim
    if not site_id:
        raise InputError(f"{where}: no site; give the id of the site the claim is about")
    if not source:
        raise InputError(f"{where}: no source; name the outlet, account or sensor")
    if not str(claim or "").strip():
        raise InputError(f"{where}: no claim; write what the source says")
    kind = str(kind or "").strip().lower()
    if kind not in KINDS:
        raise InputError(f"{where}: kind is {kind!r}; use one of {', '.join(KINDS)}")
    reliability, credibility = parse_grade(grade or "F6", where=f"{where}: grade")
    return EvidenceEntry(
        site_id=site_id,
        time=_parse_time(time, where),
        source=source,
        url=str(url or "").strip(),
        kind=kind,
        claim=str(claim).strip(),
        reliability=reliability,
        credibility=credibility,
    )


def add_entries(
    store: Store, entries: Iterable[EvidenceEntry], *, known_sites: Iterable[str] | None = None
) -> list[int]:
    """Store entries (idempotent) and return their ids.

    With ``known_sites``, an entry about an unknown site raises :class:`InputError`
    before anything is written.
    """
    entries = list(entries)
    if known_sites is not None:
        known = set(known_sites)
        for e in entries:
            if e.site_id not in known:
                raise InputError(
                    f"evidence about site {e.site_id!r}, which is not in the registry; "
                    f"known sites: {', '.join(sorted(known)[:10]) or 'none'}"
                )
    return [
        store.add_evidence(
            site_id=e.site_id,
            time=e.time,
            source=e.source,
            url=e.url,
            text=e.claim,
            kind=e.kind,
            reliability=e.reliability,
            credibility=e.credibility,
        )
        for e in entries
    ]


def list_entries(
    store: Store, *, site_id: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """Stored entries as JSON-ready records (``time`` ISO UTC, ``grade`` like ``B2``)."""
    out = []
    for row in store.evidence(site_id=site_id):
        if kind is not None and row["kind"] != kind:
            continue
        out.append(
            {
                "id": row["id"],
                "site_id": row["site_id"],
                "time": row["time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                "source": row["source"],
                "url": row["url"],
                "kind": row["kind"],
                "claim": row["text"],
                "grade": f"{row['reliability']}{row['credibility']}",
            }
        )
    return out


def read_entries(path: Path) -> list[EvidenceEntry]:
    """Read entries from CSV (header row) or JSON (a list of objects).

    Fields: ``site_id`` (or ``site``), ``time``, ``source``, ``url``, ``kind``, ``claim``
    (or ``text``) and ``grade`` (or ``reliability`` + ``credibility``). Errors name the
    file and the row (CSV line number, JSON index).
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
        reader = csv.DictReader(text.splitlines())
        rows = [(f"row {i + 2}", r) for i, r in enumerate(reader)]
    if not rows:
        raise InputError(f"evidence file {str(path)!r} has no entries")
    return [_entry(path, label, row) for label, row in rows]


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


def add_flight_events(store: Store, events: Iterable[FlightEvent], *, source: str) -> int:
    """Record airfield events as ``flight`` evidence (grade C2: ADS-B, open feed); return count.

    Grade C2: an open ADS-B feed is fairly reliable and a transponder position is
    probably true (it can be spoofed or misdecoded).
    """
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
    return len(add_entries(store, entries))
