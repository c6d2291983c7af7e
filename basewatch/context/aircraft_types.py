"""What an aircraft is: type class, military or civil, registering State.

Analysts watching the Russian drawdown from Syria counted *heavy military transports*
(Il-76, An-124) leaving for Russia, not flights. ADS-B states rarely carry the aircraft
type, so this module classifies an aircraft from what is available, best first:

1. an aircraft database in the public OpenSky ``aircraftDatabase.csv`` layout
   (``icao24 -> typecode, operator, registration``; :func:`read_aircraft_db`), or the
   short ``icao24,type,registration`` CSV;
2. the type designator broadcast in the states (the ``typecode`` column, when present);
3. military callsign prefixes (``RFF`` Russian Air Force, ``RSD``, ``RRR``, ``CNV`` ...;
   ``basewatch/data/aircraft/military_callsigns.csv``) and military sub-blocks of the
   ICAO 24-bit address space (``military_address_blocks.csv``);
4. the ICAO 24-bit address block of the registering State (``icao_address_blocks.csv``,
   ICAO Annex 10 Vol. III Table 9-1), which names the State but not the type.

The type classes are ``heavy transport`` (:data:`HEAVY_TRANSPORT_TYPES`), ``military``
(other aircraft with a military callsign, address or operator), ``civil`` (a known type
or an airline-style callsign, none of the above) and ``unknown``. ``military`` is also a
separate flag: an Il-76 flying as ``RFF7081`` is a heavy transport *and* military.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from basewatch.errors import InputError

__all__ = [
    "HEAVY_TRANSPORT_TYPES",
    "TYPE_CLASSES",
    "AircraftClass",
    "AircraftRecord",
    "address_state",
    "classify",
    "military_address",
    "military_callsign",
    "read_aircraft_db",
]

HEAVY_TRANSPORT_TYPES = frozenset(
    {
        "IL76",  # Ilyushin Il-76 / Il-78 family
        "IL78",
        "A124",  # Antonov An-124 (ICAO designator)
        "AN124",  # non-standard spelling seen in some feeds
        "A225",  # Antonov An-225
        "AN22",  # Antonov An-22
        "C17",  # Boeing C-17 Globemaster III
        "C5",  # Lockheed C-5 Galaxy
        "C5M",  # Lockheed C-5M Super Galaxy
        "IL62",  # Ilyushin Il-62 (long-range government/VIP transport)
        "IL96",  # Ilyushin Il-96
        "T154",  # Tupolev Tu-154 (ICAO designator; state and military transport)
        "TU154",  # non-standard spelling
        "A400",  # Airbus A400M
        "Y20",  # Xian Y-20
    }
)
"""ICAO aircraft type designators counted as heavy (strategic) transports."""

TYPE_CLASSES = ("heavy transport", "military", "civil", "unknown")
"""Type classes of :func:`classify`, in display order."""

_MILITARY_OPERATOR = re.compile(
    r"air ?force|navy|naval|army|military|ministry of defen[cs]e|armed forces|luftwaffe|"
    r"aerospace forces|\bvks\b|national guard|coast guard|marines?\b",
    re.IGNORECASE,
)
"""Words in a database ``operator``/``owner`` that mark a military operator."""
_AIRLINE_CALLSIGN = re.compile(r"^[A-Z]{3}[0-9][0-9A-Z]{0,3}$")
"""An airline-style callsign: ICAO operator designator then a flight number."""
_HEX = re.compile(r"^[0-9a-f]{6}$")


@dataclass(frozen=True, kw_only=True)
class AircraftRecord:
    """What an aircraft database says about one transponder address."""

    typecode: str = ""
    """ICAO type designator, upper-case (``IL76``, ``A124``), '' when unknown."""
    registration: str = ""
    """Registration mark (``RA-78830``), '' when unknown."""
    operator: str = ""
    """Operator (or owner) name, '' when unknown."""
    model: str = ""
    """Model name (``Il-76MD``), '' when unknown."""


@dataclass(frozen=True, kw_only=True)
class AircraftClass:
    """The classification of one aircraft (see the module docstring)."""

    type_class: str
    """One of :data:`TYPE_CLASSES`."""
    typecode: str = ""
    """ICAO type designator used ('' when unknown)."""
    military: bool = False
    """Whether a callsign, address block or operator marks the aircraft as military/state."""
    state: str = ""
    """ISO code of the registering State from the address block ('' when not in the table)."""
    operator: str = ""
    """Operator from the database or the military callsign table ('' when unknown)."""
    registration: str = ""
    """Registration from the database ('' when unknown)."""
    basis: tuple[str, ...] = ()
    """Why: one short phrase per piece of evidence used."""

    @property
    def heavy(self) -> bool:
        """Whether the class is ``heavy transport``."""
        return self.type_class == "heavy transport"


# --------------------------------------------------------------------------- tables


def _data(name: str) -> Path:
    return Path(str(resources.files("basewatch") / "data" / "aircraft" / name))


def _rows(name: str) -> list[dict[str, str]]:
    """Rows of a shipped CSV table, skipping ``#`` comment lines."""
    text = _data(name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines))


@functools.cache
def _state_blocks() -> tuple[tuple[int, int, str, str], ...]:
    return tuple(
        (int(r["start"], 16), int(r["end"], 16), r["state"], r["iso"])
        for r in _rows("icao_address_blocks.csv")
    )


@functools.cache
def _military_blocks() -> tuple[tuple[int, int, str], ...]:
    return tuple(
        (int(r["start"], 16), int(r["end"], 16), r["force"])
        for r in _rows("military_address_blocks.csv")
    )


@functools.cache
def _callsigns() -> tuple[tuple[str, str, str], ...]:
    rows = [
        (r["prefix"].upper(), r["operator"], r["state"]) for r in _rows("military_callsigns.csv")
    ]
    return tuple(sorted(rows, key=lambda r: -len(r[0])))  # longest prefix first


def _address(icao24: str) -> int | None:
    text = str(icao24 or "").strip().lower()
    return int(text, 16) if _HEX.match(text) else None


def address_state(icao24: str) -> tuple[str, str] | None:
    """``(State, ISO code)`` whose ICAO address block holds ``icao24``; None when unknown."""
    address = _address(icao24)
    if address is None:
        return None
    for start, end, state, iso in _state_blocks():
        if start <= address <= end:
            return state, iso
    return None


def military_address(icao24: str) -> str | None:
    """The force whose military address sub-block holds ``icao24``; None otherwise."""
    address = _address(icao24)
    if address is None:
        return None
    return next((force for s, e, force in _military_blocks() if s <= address <= e), None)


def military_callsign(callsign: str) -> tuple[str, str, str] | None:
    """``(prefix, operator, state)`` when ``callsign`` starts with a military prefix.

    The prefix must be followed by a digit or end the callsign (``RFF7081``, ``RCH451``),
    so that words merely starting with the letters (``SAMBA1``) do not match.
    """
    text = str(callsign or "").strip().upper()
    for prefix, operator, state in _callsigns():
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            if not rest or rest[0].isdigit():
                return prefix, operator, state
    return None


# --------------------------------------------------------------------------- database


_DB_COLUMNS = {
    "icao24": ("icao24",),
    "typecode": ("typecode", "type", "aircraft_type", "icaoaircrafttype_code"),
    "registration": ("registration",),
    "operator": ("operator", "owner"),
    "model": ("model",),
}


def read_aircraft_db(path: str | Path) -> dict[str, AircraftRecord]:
    """Read an aircraft database into a map keyed by lower-case icao24.

    Accepts the public OpenSky ``aircraftDatabase.csv`` layout (columns ``icao24``,
    ``registration``, ``model``, ``typecode``, ``operator``, ``owner`` ... — double- or
    single-quoted, any column case; only those columns are read) and the short
    ``icao24,type,registration`` CSV. Rows without a valid 24-bit hex address are
    skipped. Raises :class:`InputError` naming the file when it cannot be read, lacks an
    ``icao24`` or type column, or holds no usable row.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"aircraft database {str(path)!r} does not exist; pass OpenSky's "
            "aircraftDatabase.csv or a CSV with columns icao24,type,registration"
        )
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            header = handle.readline()
        quote = "'" if header.lstrip().startswith("'") else '"'
        table = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            quotechar=quote,
            skipinitialspace=True,
            index_col=False,
            usecols=lambda c: _column_key(c) is not None,
            on_bad_lines="skip",
            encoding_errors="replace",
        )
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(
            f"cannot read aircraft database {str(path)!r} ({err}); pass OpenSky's "
            "aircraftDatabase.csv or a CSV with columns icao24,type,registration"
        ) from err
    renamed: dict[str, str] = {}
    for column in table.columns:
        key = _column_key(column)
        if key is not None and key not in renamed.values():
            renamed[column] = key
    table = table[list(renamed)].rename(columns=renamed)
    if "icao24" not in table.columns or "typecode" not in table.columns:
        raise InputError(
            f"aircraft database {str(path)!r} lacks an icao24 or typecode column (found: "
            f"{header.strip()[:120] or 'nothing'}); use OpenSky's aircraftDatabase.csv layout "
            "or write a header icao24,type,registration"
        )
    out: dict[str, AircraftRecord] = {}
    for row in table.itertuples(index=False):
        values = row._asdict()
        icao = str(values.get("icao24", "")).strip().strip("'\"").lower()
        if not _HEX.match(icao):
            continue
        out[icao] = AircraftRecord(
            typecode=_clean(values.get("typecode")).upper(),
            registration=_clean(values.get("registration")),
            operator=_clean(values.get("operator")),
            model=_clean(values.get("model")),
        )
    if not out:
        raise InputError(
            f"aircraft database {str(path)!r} has no row with a 6-digit hex icao24; "
            "check the file is an aircraft database"
        )
    return out


def _column_key(name: object) -> str | None:
    """Which :data:`_DB_COLUMNS` key a header names (case- and quote-insensitive)."""
    text = str(name).strip().strip("'\"").lower()
    return next((k for k, names in _DB_COLUMNS.items() if text in names), None)


def _clean(value: object) -> str:
    return str(value or "").strip().strip("'\"").strip()


# --------------------------------------------------------------------------- classify


def classify(
    icao24: str,
    *,
    callsign: str = "",
    typecode: str = "",
    db: dict[str, AircraftRecord] | None = None,
) -> AircraftClass:
    """Classify one aircraft from its address, callsign, broadcast type and a database.

    The database's type designator, when it has one, wins over the broadcast one. See
    the module docstring for the classes and the order of evidence.
    """
    icao = str(icao24 or "").strip().lower()
    basis: list[str] = []
    record = (db or {}).get(icao)
    code = ""
    if record is not None and record.typecode:
        code = record.typecode
        basis.append(f"type {code} (aircraft database)")
    elif typecode and str(typecode).strip():
        code = str(typecode).strip().upper()
        basis.append(f"type {code} (broadcast)")
    operator = record.operator if record is not None else ""
    military = False
    sign = military_callsign(callsign)
    if sign is not None:
        military = True
        operator = operator or sign[1]
        basis.append(f"callsign {sign[0]}: {sign[1]}")
    force = military_address(icao)
    if force is not None:
        military = True
        basis.append(f"address {icao}: {force} block")
    if record is not None and _MILITARY_OPERATOR.search(record.operator):
        military = True
        basis.append(f"operator {record.operator} (aircraft database)")
    state = address_state(icao)
    if state is not None:
        basis.append(f"address {icao}: {state[0]} block")
    if code in HEAVY_TRANSPORT_TYPES:
        type_class = "heavy transport"
    elif military:
        type_class = "military"
    elif code or _AIRLINE_CALLSIGN.match(str(callsign or "").strip().upper()):
        type_class = "civil"
    else:
        type_class = "unknown"
    return AircraftClass(
        type_class=type_class,
        typecode=code,
        military=military,
        state=state[1] if state else "",
        operator=operator,
        registration=record.registration if record is not None else "",
        basis=tuple(basis),
    )
