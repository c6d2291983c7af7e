"""ADS-B flight tracks: read state vectors, split them into flights, find airfield events.

Analysts watching the Russian drawdown from Syria in December 2024 followed Il-76 and
An-124 flights out of Khmeimim. This module does the same on any ADS-B state-vector
export: it reads a CSV (one state per row) or the JSON records of the ``traffic``
package, splits each aircraft's states into flights at time gaps, finds departures and
arrivals at watched sites and counts heavy-transport departures per day.

Inputs are normalised once, in :func:`read_states`; everything after works on the
normalised frame. Distances are geodesic (WGS84, :class:`pyproj.Geod`).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pyproj import Geod

from basewatch.context.aircraft_types import (
    HEAVY_TRANSPORT_TYPES,
    TYPE_CLASSES,
    AircraftRecord,
    classify,
)
from basewatch.errors import InputError
from basewatch.sites import Site

__all__ = [
    "COLUMNS",
    "EVENT_FIELDS",
    "HEAVY_TRANSPORT_TYPES",
    "REQUIRED_COLUMNS",
    "AircraftType",
    "Flight",
    "FlightEvent",
    "TrackWarning",
    "Watched",
    "airfield_events",
    "classify_events",
    "daily_counts",
    "daily_departures",
    "event_record",
    "flight_activity",
    "flight_summaries",
    "read_aircraft_types",
    "read_states",
    "split_flights",
    "watched_sites",
    "with_types",
]


REQUIRED_COLUMNS = ("timestamp", "icao24", "latitude", "longitude", "altitude")
"""Columns a state-vector file must have; the others are filled with nulls when absent."""

COLUMNS = (
    "timestamp",
    "icao24",
    "callsign",
    "typecode",
    "latitude",
    "longitude",
    "altitude",
    "groundspeed",
    "track",
    "vertical_rate",
    "onground",
)
"""Columns of the frame returned by :func:`read_states`, in this order."""

_NUMERIC_COLUMNS = ("latitude", "longitude", "altitude", "groundspeed", "track", "vertical_rate")
_TEXT_COLUMNS = ("icao24", "callsign", "typecode")
_TRUE_WORDS = frozenset({"true", "t", "1", "yes", "y"})
_FALSE_WORDS = frozenset({"false", "f", "0", "no", "n"})
_MAX_CLIMB_FT_PER_S = 100.0
"""Fastest plausible climb (6,000 ft/min): airborne altitudes beyond it are decoding glitches."""
_MIN_CONFIRM_ALT_CHANGE_FT = 200.0
"""An airborne stretch counts as real flight when its altitude changes by at least this."""
_MIN_CONFIRM_DURATION_S = 60.0
"""... or when it lasts at least this long ..."""
_MIN_SURFACE_ROWS = 3
"""A stretch on the surface needs at least this many states to count as a touchdown."""
_MIN_FIRST_AIRBORNE_ROWS = 5
"""A track opening with this many airborne states was flying before it was first seen."""

_MAX_ROWS_SHOWN = 5
"""How many offending row numbers a warning lists."""

_GEOD = Geod(ellps="WGS84")
EventKind = Literal["departure", "arrival"]


@dataclass(frozen=True, kw_only=True, eq=False)
class Flight:
    """The states of one aircraft between two gaps in coverage."""

    icao24: str
    """ICAO 24-bit transponder address, lower-case hex."""
    callsign: str
    """Most frequent callsign of the flight ('' when none was broadcast)."""
    typecode: str
    """Most frequent ICAO type designator ('' when unknown)."""
    states: pd.DataFrame = field(repr=False)
    """This flight's rows of :func:`read_states`, sorted by time, index reset."""

    @property
    def start(self) -> datetime:
        """Time of the first state (UTC)."""
        return pd.Timestamp(self.states["timestamp"].iloc[0]).to_pydatetime()

    @property
    def end(self) -> datetime:
        """Time of the last state (UTC)."""
        return pd.Timestamp(self.states["timestamp"].iloc[-1]).to_pydatetime()

    @property
    def heavy(self) -> bool:
        """Whether the type is in :data:`HEAVY_TRANSPORT_TYPES`."""
        return self.typecode in HEAVY_TRANSPORT_TYPES


@dataclass(frozen=True, kw_only=True)
class FlightEvent:
    """A departure from or an arrival at a watched site."""

    site_id: str
    """Id of the site."""
    time: datetime
    """Lift-off (departure) or touchdown (arrival) time, timezone-aware UTC."""
    kind: EventKind
    """``departure`` or ``arrival``."""
    icao24: str
    """Transponder address of the aircraft."""
    callsign: str
    """Callsign of the flight ('' when none)."""
    typecode: str
    """ICAO type designator ('' when unknown)."""
    heavy: bool
    """Whether the type is a heavy transport (:data:`HEAVY_TRANSPORT_TYPES`)."""
    type_class: str = ""
    """Type class (:data:`~basewatch.context.aircraft_types.TYPE_CLASSES`), '' until
    :func:`classify_events` has run."""
    military: bool = False
    """Whether the callsign, address block or database operator marks it as military."""
    state: str = ""
    """ISO code of the registering State from the ICAO address block ('' when unknown)."""
    operator: str = ""
    """Operator from the aircraft database or the military callsign table."""
    bearing_deg: float | None = None
    """Bearing from the site to where the flight was last (departure) or first (arrival)
    seen, when that is beyond the site's radius; None otherwise."""

    @property
    def direction(self) -> str:
        """Compass octant of :attr:`bearing_deg` (``NE``), '' when unknown: where a
        departure went or an arrival came from, as far as the track shows."""
        return _octant(self.bearing_deg)


# --------------------------------------------------------------------------- reading


def read_states(path: Path) -> pd.DataFrame:
    """Read ADS-B state vectors from a CSV or ``traffic`` JSON file into a normalised frame.

    Accepted inputs: ``.csv`` (optionally ``.csv.gz``) with an ISO 8601 ``timestamp``
    column, and ``.json`` / ``.json.gz`` record lists as written by the ``traffic``
    package (``timestamp`` in epoch milliseconds). Only :data:`REQUIRED_COLUMNS` are
    mandatory; missing optional columns are filled with nulls.

    Returns a frame with :data:`COLUMNS`: ``timestamp`` as timezone-aware UTC,
    ``icao24`` lower-case, ``typecode`` upper-case, floats for positions and kinematics
    (null where absent or invalid) and a nullable boolean ``onground``. Rows without a
    valid time or address are dropped; the frame is sorted by aircraft and time.

    Raises :class:`~basewatch.errors.InputError` when the file is missing, unreadable,
    lacks a required column or holds no valid state.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"ADS-B state file {str(path)!r} is a folder; pass the CSV or traffic JSON "
            "export files in it (e.g. --tracks FOLDER/*.csv)"
        )
    if not path.is_file():
        raise InputError(
            f"ADS-B state file {str(path)!r} does not exist; "
            "pass the path of a CSV or traffic JSON export"
        )
    raw = _read_table(path)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        found = ", ".join(map(str, raw.columns[:12])) or "none"
        raise InputError(
            f"ADS-B state file {str(path)!r} lacks column(s) {', '.join(missing)} "
            f"(found: {found}); export the states with at least {', '.join(REQUIRED_COLUMNS)}"
        )
    states = _normalise(raw, path)
    if states.empty:
        raise InputError(
            f"ADS-B state file {str(path)!r} has no row with a valid timestamp and icao24; "
            "check the file is a state-vector export (ISO 8601 or epoch-millisecond times)"
        )
    return states


def _read_table(path: Path) -> pd.DataFrame:
    """Read ``path`` as CSV or JSON records, turning parser failures into InputError."""
    suffixes = [s.lower() for s in path.suffixes]
    is_json = ".json" in suffixes
    with path.open("rb") as fh:  # gzip by its bytes: a .json that is gzipped, a .gz that is not
        compression = "gzip" if fh.read(2) == b"\x1f\x8b" else None
    try:
        if is_json:
            table = pd.read_json(path, orient="records", dtype=False, compression=compression)
        else:
            table = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=True,
                skipinitialspace=True,
                index_col=False,
                compression=compression,
            )
    except (ValueError, TypeError, OSError, EOFError, pd.errors.ParserError) as err:
        kind = "JSON records" if is_json else "CSV"
        raise InputError(
            f"cannot read ADS-B state file {str(path)!r} as {kind}: {err}; "
            "pass a CSV with a header row or a traffic JSON (.json/.json.gz) export"
        ) from err
    if not isinstance(table, pd.DataFrame):
        raise InputError(
            f"ADS-B state file {str(path)!r} is not a list of records; "
            "pass a traffic JSON export written with orient='records'"
        )
    return table


def _normalise(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Build the normalised state frame from a raw table with the required columns."""
    out = pd.DataFrame(index=raw.index)
    out["timestamp"] = _parse_times(raw["timestamp"], path)
    for col in _TEXT_COLUMNS:
        out[col] = _clean_text(raw[col]) if col in raw.columns else pd.Series(pd.NA, raw.index)
    out["icao24"] = out["icao24"].str.lower()
    out["typecode"] = out["typecode"].astype("string").str.upper()
    for col in _NUMERIC_COLUMNS:
        values = raw[col] if col in raw.columns else pd.Series(np.nan, raw.index)
        out[col] = pd.to_numeric(values, errors="coerce").astype(float)
    out.loc[~out["latitude"].between(-90, 90), "latitude"] = np.nan
    out.loc[~out["longitude"].between(-180, 180), "longitude"] = np.nan
    no_fix = out["latitude"].isna() | out["longitude"].isna()
    out.loc[no_fix, ["latitude", "longitude"]] = np.nan
    onground = raw["onground"] if "onground" in raw.columns else pd.Series(pd.NA, raw.index)
    out["onground"] = _parse_bool(onground)
    out = _drop_and_warn(out, path)
    out = out.dropna(subset=["timestamp", "icao24"])
    out = out.sort_values(["icao24", "timestamp"], kind="stable").reset_index(drop=True)
    return out[list(COLUMNS)]


class TrackWarning(UserWarning):
    """A state-vector file has rows basewatch repaired or ignored (named by file and row)."""


def _row_names(path: Path, index: pd.Index) -> str:
    """File row numbers of ``index`` (CSV lines counting the header, or JSON record indices)."""
    is_json = ".json" in [s.lower() for s in path.suffixes]
    numbers = [int(i) + (0 if is_json else 2) for i in index[:_MAX_ROWS_SHOWN]]
    more = f" and {len(index) - _MAX_ROWS_SHOWN} more" if len(index) > _MAX_ROWS_SHOWN else ""
    word = "record" if is_json else "row"
    return (
        f"{word}s {', '.join(map(str, numbers))}{more}"
        if len(numbers) > 1
        else (f"{word} {numbers[0]}{more}")
    )


def _verb(index: pd.Index, one: str, many: str) -> str:
    """``one`` when ``index`` names a single row, else ``many`` ("lacks" / "lack")."""
    return one if len(index) == 1 else many


def _drop_and_warn(out: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Warn about bad rows (naming file and rows); drop exact duplicates."""
    where = f"ADS-B state file {str(path)!r}"
    bad_time = out.index[out["timestamp"].isna() | out["icao24"].isna()]
    if len(bad_time):
        warnings.warn(
            f"{where}: {_row_names(path, bad_time)} {_verb(bad_time, 'lacks', 'lack')} a valid "
            "timestamp or icao24; ignored",
            TrackWarning,
            stacklevel=4,
        )
    no_fix = out.index[out["latitude"].isna() & out["timestamp"].notna()]
    if len(no_fix):
        warnings.warn(
            f"{where}: {_row_names(path, no_fix)} {_verb(no_fix, 'has', 'have')} no valid position "
            f"(null or out of range); {_verb(no_fix, 'it counts', 'they count')} for time and "
            "altitude only",
            TrackWarning,
            stacklevel=4,
        )
    dupes = out.index[out.duplicated(keep="first")]
    if len(dupes):
        warnings.warn(
            f"{where}: {_row_names(path, dupes)} {_verb(dupes, 'repeats', 'repeat')} an "
            "earlier row exactly; dropped",
            TrackWarning,
            stacklevel=4,
        )
        out = out.drop(index=dupes)
    valid = out.dropna(subset=["timestamp", "icao24"])
    backwards = valid.groupby("icao24", sort=False)["timestamp"].diff().dt.total_seconds() < 0
    if backwards.any():
        back = valid.index[backwards.to_numpy()]
        warnings.warn(
            f"{where}: {_row_names(path, back)} {_verb(back, 'goes', 'go')} back in time for "
            f"{_verb(back, 'its', 'their')} aircraft; states were sorted by time",
            TrackWarning,
            stacklevel=4,
        )
    return out


def _warn_naive(path: Path, texts: pd.Series) -> None:
    """Warn when times carry no time zone (they are read as UTC)."""
    dated = texts[texts.str.match(r"\d{4}-\d\d-\d\d")]  # times, not garbage ('x')
    naive = dated[~dated.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", case=False, regex=True)]
    if len(naive):
        warnings.warn(
            f"ADS-B state file {str(path)!r}: {len(naive)} time(s) without a time zone "
            f"(e.g. {naive.iloc[0]!r}) read as UTC; if they are local times, write them "
            "with their offset (+02:00) or in UTC with Z",
            TrackWarning,
            stacklevel=5,
        )


EPOCH_UNITS = (("ns", 1e17), ("us", 1e14), ("ms", 1e11))
"""Epoch units by the magnitude their values exceed (seconds below 1e11)."""


def _parse_times(values: pd.Series, path: Path) -> pd.Series:
    """Parse ISO 8601 strings or epoch numbers into UTC timestamps (NaT if bad).

    Epoch numbers are seconds, milliseconds, microseconds or nanoseconds, told apart by
    their size (today is ~1.7e9 s); times that still land outside 1990-2100 are an error
    naming the unit read.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, errors="coerce")
        if stamps.dt.tz is not None:
            return stamps.dt.tz_convert("UTC")
        _warn_naive(path, values.dropna().astype(str))
        return stamps.dt.tz_localize("UTC")
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().any() and numeric.notna().sum() >= values.notna().sum():
        largest = float(numeric.abs().max())
        unit = next((u for u, size in EPOCH_UNITS if largest > size), "s")
        stamps = pd.to_datetime(numeric, unit=unit, utc=True, errors="coerce")
        years = stamps.dropna().dt.year
        if len(years) and (years.min() < 1990 or years.max() > 2100):
            raise InputError(
                f"ADS-B state file {str(path)!r}: epoch times read as {unit} give years "
                f"{years.min()}-{years.max()}; write times as ISO 8601 UTC "
                "(2024-12-03T08:20:00Z) or epoch seconds/milliseconds"
            )
        return stamps
    _warn_naive(path, values.dropna().astype(str).str.strip())
    try:
        return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    except (ValueError, TypeError) as err:  # mixed garbage pandas cannot coerce
        raise InputError(
            f"ADS-B state file {str(path)!r} has unparseable timestamps ({err}); "
            "write times as ISO 8601 UTC (2024-12-03T08:20:00Z) or epoch milliseconds"
        ) from err


def _clean_text(values: pd.Series) -> pd.Series:
    """Strip text values, turning empty strings into nulls."""
    text = values.astype("string").str.strip()
    return text.mask(text == "", pd.NA)


def _parse_bool(values: pd.Series) -> pd.Series:
    """Parse booleans written as bools, numbers or words into a nullable boolean series."""
    words = values.astype("string").str.strip().str.lower()
    parsed = pd.Series(pd.NA, index=values.index, dtype="boolean")
    parsed[words.isin(_TRUE_WORDS).fillna(False).astype(bool)] = True
    parsed[words.isin(_FALSE_WORDS).fillna(False).astype(bool)] = False
    return parsed


# --------------------------------------------------------------------------- flights


def split_flights(states: pd.DataFrame, *, max_gap_s: float = 600) -> list[Flight]:
    """Split normalised states into flights: per aircraft, a new flight after each time gap.

    A gap is more than ``max_gap_s`` seconds between consecutive states of the same
    ``icao24``. Flights are returned in order of aircraft, then time.
    """
    if max_gap_s <= 0:
        raise InputError(f"max_gap_s must be positive, got {max_gap_s!r}; pass e.g. 600")
    missing = [c for c in COLUMNS if c not in states.columns]
    if missing:
        raise InputError(
            f"states frame lacks column(s) {', '.join(missing)}; build it with read_states()"
        )
    if states.empty:
        return []
    ordered = states.sort_values(["icao24", "timestamp"], kind="stable")
    gap = ordered.groupby("icao24", sort=False)["timestamp"].diff().dt.total_seconds()
    icao = ordered["icao24"].astype(str).to_numpy()
    new_aircraft = np.r_[True, icao[1:] != icao[:-1]]
    flight_no = np.cumsum(new_aircraft | (gap > max_gap_s).to_numpy(dtype=bool))
    return [
        _make_flight(rows.reset_index(drop=True))
        for _, rows in ordered.groupby(flight_no, sort=True)
    ]


def _make_flight(rows: pd.DataFrame) -> Flight:
    """Wrap one flight's rows, picking its most frequent callsign and type designator."""
    return Flight(
        icao24=str(rows["icao24"].iloc[0]),
        callsign=_most_common(rows["callsign"]),
        typecode=_most_common(rows["typecode"]),
        states=rows,
    )


def _most_common(values: pd.Series) -> str:
    """Most frequent non-null value as text, '' when all are null."""
    counts = Counter(str(v) for v in values.dropna())
    return counts.most_common(1)[0][0] if counts else ""


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, kw_only=True)
class Watched:
    """Which sites of a registry flight events are looked for at, and why not the others."""

    sites: tuple[Site, ...]
    """Sites considered."""
    skipped: tuple[tuple[str, str], ...]
    """``(site id, reason)`` of the registry's other sites."""
    rule: str
    """How the considered sites were chosen (for messages)."""


def watched_sites(
    sites: Sequence[Site], *, site_ids: Sequence[str] = (), kinds: Sequence[str] = ("airbase",)
) -> Watched:
    """Pick the sites to look for departures and arrivals at.

    With ``site_ids`` exactly those (unknown ids raise :class:`InputError` naming the
    known ones); otherwise the sites whose kind is in ``kinds`` (default airbases only:
    helicopter pads and ports would catch passing traffic). The others are listed with
    the reason they were skipped, so an empty result can say what was not looked at.
    """
    known = {s.id: s for s in sites}
    if site_ids:
        missing = [i for i in site_ids if i not in known]
        if missing:
            raise InputError(
                f"no site {', '.join(missing)} in the registry (sites: "
                f"{', '.join(sorted(known)) or 'none'}); pass one of them with --site"
            )
        chosen = tuple(known[i] for i in dict.fromkeys(site_ids))
        rule = f"--site {', '.join(s.id for s in chosen)}"
        skipped = tuple((s.id, "not asked for with --site") for s in sites if s not in chosen)
        return Watched(sites=chosen, skipped=skipped, rule=rule)
    wanted = tuple(dict.fromkeys(k.strip() for k in kinds if k.strip()))
    chosen = tuple(s for s in sites if s.kind in wanted)
    skipped = tuple(
        (s.id, f"kind {s.kind!r} is not in {', '.join(wanted)}") for s in sites if s not in chosen
    )
    return Watched(sites=chosen, skipped=skipped, rule=f"sites of kind {', '.join(wanted)}")


def airfield_events(
    flights: Iterable[Flight],
    sites: Sequence[Site],
    *,
    radius_km: float = 8.0,
    max_alt_ft: float = 3000,
) -> list[FlightEvent]:
    """Find departures from and arrivals at ``sites`` in ``flights``.

    A state is *at* a site when it lies within ``radius_km`` (geodesic) of the site's
    point and is on the surface: its ``onground`` flag is true or, where the flag is not
    broadcast, its altitude is at most ``max_alt_ft`` (low near the site). Airborne states
    whose altitude is higher than a 6,000 ft/min climb from ``max_alt_ft`` could reach
    since the nearest surface state are decoding glitches and ignored; so are airborne
    stretches that neither change altitude by 200 ft, last a minute nor leave the site's
    radius. A *departure* is a confirmed airborne stretch after a stretch at the site (its
    time is the first airborne state); an *arrival* is a stretch at the site after a
    confirmed airborne one (its time is the first surface state). An overflight is never at
    the site: it is airborne and, where no flag is sent, above ``max_alt_ft``.

    All sites are considered; pass only airfields (``kind == "airbase"`` or sites with a
    runway) to avoid matching helicopter pads or ports. Events are sorted by time.
    """
    if radius_km <= 0:
        raise InputError(f"radius_km must be positive, got {radius_km!r}; pass e.g. 8")
    events: list[FlightEvent] = []
    flights = list(flights)
    for site in sites:
        lon, lat = site.point
        for flight in flights:
            events.extend(_flight_events(flight, site.id, lon, lat, radius_km, max_alt_ft))
    events.sort(key=lambda e: (e.time, e.site_id, e.icao24, e.kind))
    return events


def _flight_events(
    flight: Flight, site_id: str, lon: float, lat: float, radius_km: float, max_alt_ft: float
) -> list[FlightEvent]:
    """Departures and arrivals of one flight at one site."""
    rows = flight.states.dropna(subset=["latitude", "longitude"])
    if rows.empty:
        return []
    dist_km = _distance_km(rows["longitude"].to_numpy(), rows["latitude"].to_numpy(), lon, lat)
    near = dist_km <= radius_km
    surface = _surface_mask(rows, near, max_alt_ft)
    times = (rows["timestamp"] - rows["timestamp"].iloc[0]).dt.total_seconds().to_numpy()
    altitude = rows["altitude"].to_numpy(dtype=float)
    keep = surface | _plausible_airborne(times, altitude, surface, max_alt_ft)
    stretches = _stretches(surface[keep], near[keep], times[keep], altitude[keep])
    stamps = rows["timestamp"][keep]
    lons, lats = rows["longitude"].to_numpy(), rows["latitude"].to_numpy()
    far = np.flatnonzero(~near)
    clock = rows["timestamp"].dt.tz_convert(None).to_numpy()
    out = []
    for kind, index in _transitions(stretches):
        moment = pd.Timestamp(stamps.iloc[index])
        # where the flight went (last position away from the site) or came from (first one)
        now = moment.tz_convert(None).to_datetime64()
        side = far[clock[far] >= now] if kind == "departure" else far[clock[far] <= now]
        pick = (side[-1] if kind == "departure" else side[0]) if side.size else None
        bearing = None
        if pick is not None:
            azimuth, _, _ = _GEOD.inv(lon, lat, float(lons[pick]), float(lats[pick]))
            bearing = round(float(azimuth) % 360.0, 1)
        out.append(
            FlightEvent(
                site_id=site_id,
                time=moment.to_pydatetime(),
                kind=kind,
                icao24=flight.icao24,
                callsign=flight.callsign,
                typecode=flight.typecode,
                heavy=flight.heavy,
                bearing_deg=bearing,
            )
        )
    return out


_OCTANTS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def _octant(bearing: float | None) -> str:
    """Compass octant of a bearing in degrees ('' for None)."""
    if bearing is None or not np.isfinite(bearing):
        return ""
    return _OCTANTS[int(((bearing % 360.0) + 22.5) // 45.0) % 8]


def _distance_km(lons: np.ndarray, lats: np.ndarray, lon: float, lat: float) -> np.ndarray:
    """Geodesic distance in km from each (lon, lat) to the point (lon, lat)."""
    _, _, metres = _GEOD.inv(np.full(lons.shape, lon), np.full(lats.shape, lat), lons, lats)
    return np.asarray(metres, dtype=float) / 1000.0


def _surface_mask(rows: pd.DataFrame, near: np.ndarray, max_alt_ft: float) -> np.ndarray:
    """True where a state is on the surface: its flag, or low near the site where no flag."""
    flag = rows["onground"].astype("boolean")
    low = rows["altitude"].le(max_alt_ft) & pd.Series(near, index=rows.index)
    return np.asarray(flag.fillna(low).fillna(False), dtype=bool)


def _plausible_airborne(
    times: np.ndarray, altitude: np.ndarray, surface: np.ndarray, max_alt_ft: float
) -> np.ndarray:
    """True for airborne states whose altitude a real climb from the surface could reach."""
    seconds_to_surface = np.full(times.shape, np.inf)
    surface_times = times[surface]
    if surface_times.size:
        pos = np.searchsorted(surface_times, times)
        before = np.where(pos > 0, times - surface_times[np.maximum(pos - 1, 0)], np.inf)
        after_idx = np.minimum(pos, surface_times.size - 1)
        after = np.where(pos < surface_times.size, surface_times[after_idx] - times, np.inf)
        seconds_to_surface = np.minimum(before, after)
    ceiling = max_alt_ft + _MAX_CLIMB_FT_PER_S * seconds_to_surface
    reachable = np.isnan(altitude) | (altitude <= ceiling)
    return ~surface & reachable


@dataclass(frozen=True, kw_only=True)
class _Stretch:
    """Consecutive states of one flight in the same phase."""

    surface: bool
    """True for a stretch on the surface."""
    near: bool
    """For a surface stretch: whether it is within the site's radius."""
    first: int
    """Index (into the kept states) of its first state."""
    confirmed: bool
    """Whether the stretch is long or clear enough to change the flight's phase."""


def _stretches(
    surface: np.ndarray,
    near: np.ndarray,
    times: np.ndarray,
    altitude: np.ndarray,
) -> list[_Stretch]:
    """Run-length encode the states into surface / airborne stretches and confirm them."""
    if surface.size == 0:
        return []
    at_site = surface & near
    key = np.where(surface, np.where(at_site, 2, 1), 0)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], key.size]
    out = []
    for first, stop in zip(starts, ends, strict=True):
        if surface[first]:
            confirmed = bool(stop - first >= _MIN_SURFACE_ROWS or stop == key.size)
        else:
            confirmed = _airborne_confirmed(
                times[first:stop], altitude[first:stop], near[first:stop]
            )
        out.append(
            _Stretch(
                surface=bool(surface[first]),
                near=bool(at_site[first]),
                first=int(first),
                confirmed=confirmed,
            )
        )
    opening = int(ends[0])  # states in the first stretch
    if not out[0].surface and opening >= _MIN_FIRST_AIRBORNE_ROWS:
        # a track that opens with several airborne states (e.g. on final) was flying before
        out[0] = _Stretch(surface=False, near=False, first=0, confirmed=True)
    return out


def _airborne_confirmed(times: np.ndarray, altitude: np.ndarray, near: np.ndarray) -> bool:
    """Whether an airborne stretch is real flight rather than a flicker of the surface flag."""
    if times[-1] - times[0] >= _MIN_CONFIRM_DURATION_S or not near.all():
        return True
    known = altitude[~np.isnan(altitude)]
    return bool(known.size >= 2 and np.ptp(known) >= _MIN_CONFIRM_ALT_CHANGE_FT)


def _transitions(stretches: list[_Stretch]) -> list[tuple[EventKind, int]]:
    """Walk confirmed stretches and return (kind, first-state index) of each event."""
    phase: str | None = None  # "site", "elsewhere" (surface away from the site) or "air"
    events: list[tuple[EventKind, int]] = []
    for stretch in stretches:
        if not stretch.confirmed:
            continue
        if stretch.surface:
            new = "site" if stretch.near else "elsewhere"
            if new == "site" and phase == "air":
                events.append(("arrival", stretch.first))
        else:
            new = "air"
            if phase == "site":
                events.append(("departure", stretch.first))
        phase = new
    return events


# --------------------------------------------------------------------------- counts


def daily_departures(
    events: Iterable[FlightEvent],
    *,
    site_id: str,
    heavy_only: bool = True,
    start: date | None = None,
    end: date | None = None,
) -> list[tuple[date, int]]:
    """Count departures from ``site_id`` per UTC day, zeros included.

    The days run from ``start`` to ``end`` inclusive; each defaults to the first / last
    day of any event at ``site_id`` (arrivals included, so a quiet end of the period
    shows as zeros). With ``heavy_only`` only heavy transports are counted. Returns
    ``[]`` when the site has no event and no span is given.
    """
    at_site = [e for e in events if e.site_id == site_id]
    days = [_utc_day(e.time) for e in at_site]
    first = start or (min(days) if days else None)
    last = end or (max(days) if days else None)
    if first is None or last is None:
        return []
    if last < first:
        raise InputError(f"end {last} is before start {first}; pass end on or after start")
    counts = Counter(
        _utc_day(e.time) for e in at_site if e.kind == "departure" and (e.heavy or not heavy_only)
    )
    span = (last - first).days + 1
    return [(d, counts.get(d, 0)) for d in (first + timedelta(days=i) for i in range(span))]


def _utc_day(moment: datetime) -> date:
    """UTC calendar day of a timezone-aware (or naive-UTC) datetime."""
    return pd.Timestamp(moment).tz_convert("UTC").date() if moment.tzinfo else moment.date()


# --------------------------------------------------------------------------- types and counts


@dataclass(frozen=True, kw_only=True)
class AircraftType:
    """What a user's table says about one transponder address."""

    typecode: str
    """ICAO type designator, upper-case (``IL76``, ``A124``)."""
    registration: str = ""
    """Registration mark (``RA-78830``), '' when unknown."""


EVENT_FIELDS = ("icao24", "callsign", "site_id", "event", "time")
"""Keys every JSON event record carries (more may follow: typecode, registration, heavy)."""


def read_aircraft_types(path: Path) -> dict[str, AircraftType]:
    """Read a CSV of ``icao24, type[, registration]`` into a map keyed by lower-case icao24.

    The type column may be called ``type``, ``typecode`` or ``aircraft_type``. Raises
    :class:`InputError` naming the file (and row) when it cannot be used.
    """
    path = Path(path)
    try:
        table = pd.read_csv(
            path, dtype=str, keep_default_na=False, skipinitialspace=True, index_col=False
        )
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise InputError(
            f"cannot read aircraft type file {str(path)!r} ({err}); "
            "pass a CSV with columns icao24,type,registration"
        ) from err
    table.columns = [str(c).strip().lower() for c in table.columns]
    type_col = next((c for c in ("type", "typecode", "aircraft_type") if c in table), None)
    if "icao24" not in table.columns or type_col is None:
        raise InputError(
            f"aircraft type file {str(path)!r} lacks an icao24 or type column (found: "
            f"{', '.join(table.columns) or 'none'}); write a header icao24,type,registration"
        )
    out: dict[str, AircraftType] = {}
    for index, row in table.iterrows():
        icao = str(row["icao24"]).strip().lower()
        if not icao:
            raise InputError(
                f"aircraft type file {str(path)!r}, row {int(str(index)) + 2}: empty icao24; "
                "give the 24-bit address in hex"
            )
        reg = str(row.get("registration", "") or "").strip()
        out[icao] = AircraftType(typecode=str(row[type_col]).strip().upper(), registration=reg)
    return out


def with_types(events: Iterable[FlightEvent], types: dict[str, AircraftType]) -> list[FlightEvent]:
    """Events with type (and heavy flag) taken from ``types`` where it knows the aircraft."""
    out = []
    for e in events:
        known = types.get(e.icao24)
        if known is not None and known.typecode:
            e = replace(e, typecode=known.typecode, heavy=known.typecode in HEAVY_TRANSPORT_TYPES)
        out.append(e)
    return out


def classify_events(
    events: Iterable[FlightEvent], db: dict[str, AircraftRecord] | None = None
) -> list[FlightEvent]:
    """Events with type class, military flag, registering State and operator filled in.

    ``db`` is an aircraft database (:func:`basewatch.context.aircraft_types.read_aircraft_db`);
    its type designator replaces the broadcast one, and ``heavy`` follows the class.
    Without it the class comes from the broadcast type, military callsign prefixes and
    ICAO address blocks (:func:`basewatch.context.aircraft_types.classify`).
    """
    out = []
    for e in events:
        c = classify(e.icao24, callsign=e.callsign, typecode=e.typecode, db=db)
        out.append(
            replace(
                e,
                typecode=c.typecode,
                heavy=c.heavy,
                type_class=c.type_class,
                military=c.military,
                state=c.state,
                operator=c.operator,
            )
        )
    return out


def event_record(
    event: FlightEvent, types: dict[str, AircraftType] | None = None
) -> dict[str, Any]:
    """The JSON record of one event: :data:`EVENT_FIELDS`, then typecode, registration,
    heavy, type_class, military, state, operator and direction."""
    known = (types or {}).get(event.icao24)
    return {
        "icao24": event.icao24,
        "callsign": event.callsign,
        "site_id": event.site_id,
        "event": event.kind,
        "time": pd.Timestamp(event.time).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "typecode": event.typecode,
        "registration": known.registration if known else "",
        "heavy": event.heavy,
        "type_class": event.type_class,
        "military": event.military,
        "state": event.state,
        "operator": event.operator,
        "direction": event.direction,
    }


def flight_activity(
    events: Iterable[FlightEvent], *, site_id: str, notable_max: int = 40
) -> dict[str, Any]:
    """A page-sized summary of the (classified) events at ``site_id``.

    Returns ``{"site_id", "first_day", "last_day", "departures", "arrivals"`` (per type
    class), ``"heavy_departures"`` (per type designator), ``"military_departures"`` (per
    direction, ``?`` when unknown), ``"days"`` (per UTC day: ``{"day", <class>: n}``
    counting departures and arrivals), ``"notable"`` (the latest ``notable_max`` heavy or
    military events as :func:`event_record` records, newest last) and ``"notable_total"``.
    Routine civil traffic is only counted. Run :func:`classify_events` first; events
    without a class count as ``unknown``.
    """
    at_site = sorted((e for e in events if e.site_id == site_id), key=lambda e: e.time)
    classes = {k: 0 for k in TYPE_CLASSES}
    departures, arrivals = dict(classes), dict(classes)
    heavy: Counter[str] = Counter()
    military: Counter[str] = Counter()
    days: dict[date, Counter[str]] = {}
    for e in at_site:
        cls = e.type_class or "unknown"
        (departures if e.kind == "departure" else arrivals)[cls] += 1
        days.setdefault(_utc_day(e.time), Counter())[cls] += 1
        if e.kind == "departure" and e.heavy:
            heavy[e.typecode or "?"] += 1
        if e.kind == "departure" and e.military:
            military[e.direction or "?"] += 1
    notable = [e for e in at_site if e.heavy or e.military]
    return {
        "site_id": site_id,
        "first_day": min(days).isoformat() if days else None,
        "last_day": max(days).isoformat() if days else None,
        "departures": departures,
        "arrivals": arrivals,
        "heavy_departures": dict(sorted(heavy.items())),
        "military_departures": dict(sorted(military.items(), key=lambda kv: (-kv[1], kv[0]))),
        "days": [
            {"day": d.isoformat(), **{k: int(c[k]) for k in TYPE_CLASSES}}
            for d, c in sorted(days.items())
        ],
        "notable": [event_record(e) for e in notable[-notable_max:]] if notable_max else [],
        "notable_total": len(notable),
    }


def daily_counts(events: Iterable[FlightEvent]) -> list[dict[str, Any]]:
    """Departures and arrivals per site, UTC day and aircraft type ('' when unknown).

    Returns records ``{"site_id", "day", "typecode", "heavy", "departures", "arrivals"}``
    sorted by site, day and type; only combinations with at least one event appear.
    """
    counts: Counter[tuple[str, date, str, bool, str]] = Counter(
        (e.site_id, _utc_day(e.time), e.typecode, e.heavy, e.kind) for e in events
    )
    keys = sorted({k[:4] for k in counts})
    return [
        {
            "site_id": site,
            "day": day.isoformat(),
            "typecode": typecode,
            "heavy": heavy,
            "departures": counts[(site, day, typecode, heavy, "departure")],
            "arrivals": counts[(site, day, typecode, heavy, "arrival")],
        }
        for site, day, typecode, heavy in keys
    ]


def flight_summaries(
    flights: Iterable[Flight],
    events: Iterable[FlightEvent],
    types: dict[str, AircraftType] | None = None,
    db: dict[str, AircraftRecord] | None = None,
) -> list[dict[str, Any]]:
    """One record per flight: address, callsign, type, type class, military flag, start,
    end, states and its events.

    ``events`` entries are ``"<kind>@<site_id>"`` for the events inside the flight's span.
    The class comes from ``db`` (an aircraft database), the broadcast type, the callsign
    and the address block (:func:`basewatch.context.aircraft_types.classify`).
    """
    events = list(events)
    out = []
    for f in flights:
        known = (types or {}).get(f.icao24)
        inside = [
            f"{e.kind}@{e.site_id}"
            for e in events
            if e.icao24 == f.icao24 and f.start <= e.time <= f.end
        ]
        typecode = known.typecode if known and known.typecode else f.typecode
        c = classify(f.icao24, callsign=f.callsign, typecode=typecode, db=db)
        out.append(
            {
                "icao24": f.icao24,
                "callsign": f.callsign,
                "typecode": c.typecode,
                "type_class": c.type_class,
                "military": c.military,
                "start": pd.Timestamp(f.start).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": pd.Timestamp(f.end).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "states": len(f.states),
                "events": inside,
            }
        )
    return out
