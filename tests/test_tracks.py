"""Tests for basewatch.context.tracks: reading ADS-B states, splitting flights, airfield events."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import Point

from basewatch.cli import main
from basewatch.context.tracks import (
    COLUMNS,
    EVENT_FIELDS,
    HEAVY_TRANSPORT_TYPES,
    AircraftType,
    FlightEvent,
    TrackWarning,
    airfield_events,
    daily_counts,
    daily_departures,
    event_record,
    read_aircraft_types,
    read_states,
    split_flights,
    with_types,
)
from basewatch.errors import InputError
from basewatch.sites import Site

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "adsb_tracks_traffic_samples"
GEOD = Geod(ellps="WGS84")
KHMEIMIM = (35.9486, 35.4011)  # lon, lat
FIELD_FT = 150.0  # field elevation, feet
DAY1 = datetime(2024, 12, 1, tzinfo=UTC)


def _site(site_id: str, lon: float, lat: float, kind: str = "airbase") -> Site:
    return Site(id=site_id, name=site_id.title(), kind=kind, geometry=Point(lon, lat))


# --------------------------------------------------------------------------- synthetic tracks


def _leg(
    rows: list[dict],
    *,
    aircraft: tuple[str, str, str],
    start: datetime,
    seconds: int,
    step: int,
    lon: float,
    lat: float,
    bearing: float,
    speed_kt: float,
    alt: float,
    climb_fpm: float,
    onground: bool,
) -> tuple[datetime, float, float, float]:
    """Append states of a straight leg; return end time, lon, lat, altitude."""
    icao, callsign, typecode = aircraft
    t, x, y, z = start, lon, lat, alt
    for _ in range(0, seconds, step):
        rows.append(
            {
                "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "icao24": icao,
                "callsign": callsign,
                "typecode": typecode,
                "latitude": round(y, 6),
                "longitude": round(x, 6),
                "altitude": round(z),
                "groundspeed": speed_kt,
                "track": bearing,
                "vertical_rate": climb_fpm,
                "onground": onground,
            }
        )
        x, y, _ = GEOD.fwd(x, y, bearing, speed_kt * 0.514444 * step)
        z = max(FIELD_FT, z + climb_fpm * step / 60.0)
        t += timedelta(seconds=step)
    return t, x, y, z


def _departure(rows: list[dict], aircraft: tuple[str, str, str], start: datetime) -> datetime:
    """Taxi 5 min at the base, then climb away to the north-east; return lift-off time."""
    lon, lat = KHMEIMIM
    t, x, y, _ = _leg(
        rows,
        aircraft=aircraft,
        start=start,
        seconds=300,
        step=10,
        lon=lon,
        lat=lat,
        bearing=90,
        speed_kt=12,
        alt=FIELD_FT,
        climb_fpm=0,
        onground=True,
    )
    _leg(
        rows,
        aircraft=aircraft,
        start=t,
        seconds=900,
        step=10,
        lon=x,
        lat=y,
        bearing=45,
        speed_kt=250,
        alt=FIELD_FT + 300,
        climb_fpm=2000,
        onground=False,
    )
    return t


def _arrival(rows: list[dict], aircraft: tuple[str, str, str], start: datetime) -> datetime:
    """Descend from 60 km south-west onto the base, taxi 3 min; return touchdown time."""
    lon, lat = KHMEIMIM
    far_lon, far_lat, _ = GEOD.fwd(lon, lat, 225, 60_000)
    seconds = int(60_000 / (200 * 0.514444)) // 10 * 10
    t, x, y, _ = _leg(
        rows,
        aircraft=aircraft,
        start=start,
        seconds=seconds,
        step=10,
        lon=far_lon,
        lat=far_lat,
        bearing=45,
        speed_kt=200,
        alt=10_000,
        climb_fpm=-(10_000 - FIELD_FT) / (seconds / 60) * 1.02,
        onground=False,
    )
    _leg(
        rows,
        aircraft=aircraft,
        start=t,
        seconds=180,
        step=10,
        lon=x,
        lat=y,
        bearing=45,
        speed_kt=15,
        alt=FIELD_FT,
        climb_fpm=0,
        onground=True,
    )
    return t


def _overflight(rows: list[dict], aircraft: tuple[str, str, str], start: datetime) -> None:
    """Cross right over the base at 35,000 ft."""
    lon, lat = KHMEIMIM
    west_lon, west_lat, _ = GEOD.fwd(lon, lat, 270, 50_000)
    _leg(
        rows,
        aircraft=aircraft,
        start=start,
        seconds=400,
        step=10,
        lon=west_lon,
        lat=west_lat,
        bearing=90,
        speed_kt=480,
        alt=35_000,
        climb_fpm=0,
        onground=False,
    )


IL76_A = ("15B0A1", "RFF7086", "IL76")
AN124 = ("151DA2", "RFF7801", "A124")
AIRLINER = ("4BA9C3", "THY123", "B738")
IL76_D = ("15B0B7", "RFF7090", "IL76")
LOCAL = ("7A0001", "SYR501", "A320")


@pytest.fixture
def scenario(tmp_path: Path) -> tuple[Path, dict[str, datetime]]:
    """A CSV with a departure, an arrival, an overflight, one aircraft seen twice, a local."""
    rows: list[dict] = []
    times = {
        "a_dep": _departure(rows, IL76_A, DAY1 + timedelta(hours=6)),
        "b_arr": _arrival(rows, AN124, DAY1 + timedelta(hours=9)),
        "d_arr": _arrival(rows, IL76_D, DAY1 + timedelta(hours=17)),
        # IL76_D sits unseen on the apron for a day and a half: a gap, then a departure
        "d_dep": _departure(rows, IL76_D, DAY1 + timedelta(days=2, hours=6)),
        "local_dep": _departure(rows, LOCAL, DAY1 + timedelta(hours=12)),
    }
    _overflight(rows, AIRLINER, DAY1 + timedelta(hours=7))
    rows.sort(key=lambda r: r["timestamp"])  # interleave aircraft as a real feed does
    path = tmp_path / "states.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path, times


# --------------------------------------------------------------------------- reading


def test_read_states_normalises_csv(scenario: tuple[Path, dict[str, datetime]]) -> None:
    path, _ = scenario
    states = read_states(path)
    assert list(states.columns) == list(COLUMNS)
    assert str(states["timestamp"].dt.tz) == "UTC"
    assert set(states["icao24"]) == {"15b0a1", "151da2", "4ba9c3", "15b0b7", "7a0001"}
    assert set(states["typecode"]) == {"IL76", "A124", "B738", "A320"}
    assert states["onground"].dtype == "boolean"
    assert states["altitude"].dtype == float
    first = states[states["icao24"] == "15b0a1"].iloc[0]
    assert first["timestamp"] == pd.Timestamp("2024-12-01T06:00:00Z")
    assert bool(first["onground"]) is True
    # sorted by aircraft then time
    assert states.equals(states.sort_values(["icao24", "timestamp"]).reset_index(drop=True))


def test_read_states_fills_optional_columns_and_parses_words(tmp_path: Path) -> None:
    path = tmp_path / "minimal.csv"
    path.write_text(
        "Timestamp,ICAO24,Latitude,Longitude,Altitude,OnGround\n"
        "2024-12-02T10:00:00+03:00,ABC123,35.4,35.95,150,yes\n"
        "2024-12-02T07:00:10Z,abc123,91.0,35.95,400,0\n"
        "not-a-time,abc123,35.4,35.95,150,\n"
    )
    states = read_states(path)
    assert len(states) == 2  # the row without a valid time is dropped
    assert states["timestamp"].tolist() == [
        pd.Timestamp("2024-12-02T07:00:00Z"),
        pd.Timestamp("2024-12-02T07:00:10Z"),
    ]
    assert states["onground"].tolist() == [True, False]
    assert states["callsign"].isna().all() and states["vertical_rate"].isna().all()
    assert pd.isna(states["latitude"].iloc[1])  # latitude 91 is not a position


def test_read_states_traffic_json_without_onground() -> None:
    path = DATA / "inflight_refuelling.json.gz"
    if not path.exists():
        pytest.skip(f"traffic ADS-B sample not present at {path}")
    states = read_states(path)
    assert len(states) == 10_397
    assert states["onground"].isna().all()  # the sample carries no onground column
    assert states["timestamp"].iloc[0] == pd.Timestamp("2020-06-30T20:06:25Z")
    assert states["latitude"].isna().any() and states["latitude"].notna().mean() > 0.9
    assert set(states["callsign"].dropna()) == {"FAF4011"}


def test_read_states_json_epoch_ms(tmp_path: Path) -> None:
    path = tmp_path / "states.json.gz"
    records = (
        '[{"timestamp": 1733032800000, "icao24": "15B0A1", "latitude": 35.4, '
        '"longitude": 35.9, "altitude": null, "onground": true}]'
    )
    with gzip.open(path, "wt") as fh:
        fh.write(records)
    states = read_states(path)
    assert states["timestamp"].iloc[0] == pd.Timestamp("2024-12-01T06:00:00Z")
    assert states["icao24"].iloc[0] == "15b0a1"
    assert states["typecode"].isna().all()


@pytest.mark.parametrize("per_second", [1, 1_000, 1_000_000, 1_000_000_000])
def test_epoch_times_in_any_unit_are_read(tmp_path: Path, per_second: int) -> None:
    """OpenSky/traffic exports come in s, ms, µs or ns: microseconds were read as ms, a
    year 51729 and a traceback."""
    path = tmp_path / "states.csv"
    stamp = 1733032800 * per_second
    path.write_text(f"timestamp,icao24,latitude,longitude,altitude\n{stamp},abc,35.4,35.9,100\n")
    assert read_states(path)["timestamp"].iloc[0] == pd.Timestamp("2024-12-01T06:00:00Z")


def test_epoch_times_far_from_now_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "states.csv"
    path.write_text("timestamp,icao24,latitude,longitude,altitude\n12345678,abc,35.4,35.9,1\n")
    with pytest.raises(InputError, match=r"epoch times read as s give years 1970-1970"):
        read_states(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "states.csv",
            "timestamp,icao24,latitude,altitude\n2024-12-01T00:00:00Z,a,1,2\n",
            "longitude",
        ),
        ("states.csv", "hello world\nthis is not a state file\n", "lacks column"),
        ("states.csv", b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00garbage", "cannot read"),
        ("states.json", "{not json", "cannot read"),
        ("states.json.gz", b"not gzip at all", "cannot read"),
        ("states.csv", "timestamp,icao24,latitude,longitude,altitude\nx,,1,2,3\n", "no row"),
    ],
)
def test_read_states_rejects_bad_files(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_states(path)
    assert str(path) in str(info.value)


def test_read_states_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_states(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- flights


def test_split_flights_splits_at_gaps(scenario: tuple[Path, dict[str, datetime]]) -> None:
    path, times = scenario
    flights = split_flights(read_states(path))
    by_aircraft: dict[str, list] = {}
    for f in flights:
        by_aircraft.setdefault(f.icao24, []).append(f)
    assert {k: len(v) for k, v in by_aircraft.items()} == {
        "15b0a1": 1,
        "151da2": 1,
        "4ba9c3": 1,
        "15b0b7": 2,
        "7a0001": 1,
    }
    first, second = by_aircraft["15b0b7"]
    assert first.end < times["d_arr"] + timedelta(minutes=4) < second.start
    assert second.start == times["d_dep"] - timedelta(minutes=5)
    assert (first.callsign, first.typecode, first.heavy) == ("RFF7090", "IL76", True)
    assert by_aircraft["7a0001"][0].heavy is False
    # a gap limit longer than the 36-hour pause keeps the aircraft in one flight
    assert len(split_flights(read_states(path), max_gap_s=48 * 3600)) == 5


def test_split_flights_rejects_bad_gap(scenario: tuple[Path, dict[str, datetime]]) -> None:
    with pytest.raises(InputError, match="max_gap_s"):
        split_flights(read_states(scenario[0]), max_gap_s=0)


# --------------------------------------------------------------------------- events


def _summary(events: list[FlightEvent]) -> list[tuple[str, str, datetime]]:
    return [(e.kind, e.icao24, e.time) for e in events]


def test_airfield_events_synthetic(scenario: tuple[Path, dict[str, datetime]]) -> None:
    path, times = scenario
    flights = split_flights(read_states(path))
    events = airfield_events(flights, [_site("khmeimim", *KHMEIMIM)])
    assert _summary(events) == [
        ("departure", "15b0a1", times["a_dep"]),
        ("arrival", "151da2", times["b_arr"]),
        ("departure", "7a0001", times["local_dep"]),
        ("arrival", "15b0b7", times["d_arr"]),
        ("departure", "15b0b7", times["d_dep"]),
    ]  # the 35,000 ft overflight of 4ba9c3 is not an event
    assert all(e.site_id == "khmeimim" for e in events)
    assert [e.heavy for e in events] == [True, True, False, True, True]
    assert events[1].typecode == "A124" and events[1].callsign == "RFF7801"
    assert all(e.time.tzinfo is not None for e in events)


def test_airfield_events_only_near_the_site(scenario: tuple[Path, dict[str, datetime]]) -> None:
    flights = split_flights(read_states(scenario[0]))
    tartus = _site("tartus", 35.8925, 34.9131, kind="naval_base")  # ~55 km south
    assert airfield_events(flights, [tartus]) == []
    # a radius wide enough to include Khmeimim catches the same movements
    assert len(airfield_events(flights, [tartus], radius_km=60)) == 5


def test_airfield_events_without_onground_flag(
    scenario: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    """Feeds without the surface flag fall back to 'low near the site'."""
    path, _ = scenario
    table = pd.read_csv(path).drop(columns=["onground"])
    bare = tmp_path / "no_onground.csv"
    table.to_csv(bare, index=False)
    events = airfield_events(split_flights(read_states(bare)), [_site("khmeimim", *KHMEIMIM)])
    assert [(e.kind, e.icao24) for e in events] == [
        ("departure", "15b0a1"),
        ("arrival", "151da2"),
        ("departure", "7a0001"),
        ("arrival", "15b0b7"),
        ("departure", "15b0b7"),
    ]


def test_airfield_events_ignore_decoding_glitches(
    scenario: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    """Surface states flagged airborne with absurd altitudes (as in real feeds) add nothing."""
    path, times = scenario
    table = pd.read_csv(path)
    taxi = table.index[(table["icao24"] == "15B0A1") & table["onground"]]
    rows = taxi[5:8].tolist() + taxi[15:17].tolist()
    glitches = zip(rows, [34_000, 36_000, 36_050, 1e5, 150], strict=True)
    for row, altitude in glitches:
        table.loc[row, ["onground", "altitude"]] = [False, altitude]
    table.loc[taxi[0], "onground"] = False  # a flicker as the track opens is no landing
    glitchy = tmp_path / "glitchy.csv"
    table.to_csv(glitchy, index=False)
    events = airfield_events(split_flights(read_states(glitchy)), [_site("khmeimim", *KHMEIMIM)])
    a_events = [(e.kind, e.time) for e in events if e.icao24 == "15b0a1"]
    assert a_events == [("departure", times["a_dep"])]


def test_zurich_sample_landings_and_takeoffs() -> None:
    """The traffic package's Zurich sample: 10 flights on the surface at LSZH.

    Read flight by flight (onground flag and altitude), the sample holds four landings
    (CAI3208, VJT796, EDW229, and SWR5220 after a 3.5-hour flight), five take-offs
    (ACA879, SWR137H, SWR5220, AEE5ZH, ENT57BW) and two aircraft that only move on the
    ground (SWISS, SWR75C). Its surface states carry flicking flags and altitudes up to
    39,675 ft, which must not create events.
    """
    path = DATA / "zurich_airport.json.gz"
    if not path.exists():
        pytest.skip(f"traffic ADS-B sample not present at {path}")
    flights = split_flights(read_states(path))
    assert len(flights) == 10
    events = airfield_events(flights, [_site("lszh", 8.5492, 47.4647)])
    arrivals = {e.callsign for e in events if e.kind == "arrival"}
    departures = {e.callsign for e in events if e.kind == "departure"}
    assert arrivals == {"CAI3208", "VJT796", "EDW229", "SWR5220"}
    assert departures == {"ACA879", "SWR137H", "SWR5220", "AEE5ZH", "ENT57BW"}
    assert len(events) == 9
    by_call = {(e.callsign, e.kind): e.time for e in events}
    assert by_call[("EDW229", "arrival")] == datetime(2019, 10, 24, 20, 21, 44, tzinfo=UTC)
    assert by_call[("SWR5220", "departure")] < by_call[("SWR5220", "arrival")]
    # the same movements are invisible from an airfield 60 km away (Bern, LSZB)
    assert airfield_events(flights, [_site("lszb", 7.4971, 46.9141)]) == []


# --------------------------------------------------------------------------- counts


def test_daily_departures(scenario: tuple[Path, dict[str, datetime]]) -> None:
    flights = split_flights(read_states(scenario[0]))
    events = airfield_events(flights, [_site("khmeimim", *KHMEIMIM)])
    heavy = daily_departures(events, site_id="khmeimim")
    assert heavy == [(date(2024, 12, 1), 1), (date(2024, 12, 2), 0), (date(2024, 12, 3), 1)]
    every = daily_departures(events, site_id="khmeimim", heavy_only=False)
    assert every == [(date(2024, 12, 1), 2), (date(2024, 12, 2), 0), (date(2024, 12, 3), 1)]
    wider = daily_departures(
        events, site_id="khmeimim", start=date(2024, 11, 30), end=date(2024, 12, 4)
    )
    assert [n for _, n in wider] == [0, 1, 0, 1, 0]
    assert daily_departures(events, site_id="tartus") == []


def test_heavy_types_are_icao_designators() -> None:
    assert {"IL76", "A124", "C17", "A400"} <= HEAVY_TRANSPORT_TYPES
    assert all(t == t.upper() and " " not in t for t in HEAVY_TRANSPORT_TYPES)


# --------------------------------------------------------------------------- bad rows, types, CLI


def test_read_states_warns_about_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "messy.csv"
    path.write_text(
        "timestamp,icao24,latitude,longitude,altitude,onground\n"
        "2024-12-01T06:00:20Z,15b0a1,35.40,35.95,150,true\n"  # row 2
        "2024-12-01T06:00:00Z,15b0a1,35.40,35.95,150,true\n"  # row 3: back in time
        "2024-12-01T06:00:20Z,15b0a1,35.40,35.95,150,true\n"  # row 4: duplicate of row 2
        "2024-12-01T06:00:30Z,15b0a1,,,150,true\n"  # row 5: no position
        "2024-12-01T06:00:40Z,,35.40,35.95,150,true\n"  # row 6: no address
    )
    with pytest.warns(TrackWarning) as record:
        states = read_states(path)
    messages = [str(w.message) for w in record]
    assert all(str(path) in m for m in messages)
    assert any("row 4 repeats an earlier row" in m for m in messages)
    assert any("row 3 goes back in time for its aircraft" in m for m in messages)
    assert any("row 5 has no valid position" in m for m in messages)
    assert any("row 6 lacks a valid timestamp or icao24" in m for m in messages)
    assert states["timestamp"].is_monotonic_increasing and len(states) == 3


def test_aircraft_types_and_daily_counts(
    scenario: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    types_csv = tmp_path / "types.csv"
    types_csv.write_text(
        "icao24,type,registration\n7A0001,il76,YK-ATA\n15b0a1,IL76,RA-78830\n"
    )  # the local A320 is re-identified as an Il-76
    types = read_aircraft_types(types_csv)
    assert types["7a0001"] == AircraftType(typecode="IL76", registration="YK-ATA")
    flights = split_flights(read_states(scenario[0]))
    events = with_types(airfield_events(flights, [_site("khmeimim", *KHMEIMIM)]), types)
    local = next(e for e in events if e.icao24 == "7a0001")
    assert (local.typecode, local.heavy) == ("IL76", True)
    counts = daily_counts(events)
    assert {(c["day"], c["typecode"]): (c["departures"], c["arrivals"]) for c in counts} == {
        ("2024-12-01", "IL76"): (2, 1),
        ("2024-12-01", "A124"): (0, 1),
        ("2024-12-03", "IL76"): (1, 0),
    }
    record = event_record(local, types)
    assert list(record)[: len(EVENT_FIELDS)] == list(EVENT_FIELDS)
    assert record["registration"] == "YK-ATA" and record["event"] == "departure"
    bad = tmp_path / "bad_types.csv"
    bad.write_text("hex,model\nabc,IL76\n")
    with pytest.raises(InputError, match="lacks an icao24 or type column") as info:
        read_aircraft_types(bad)
    assert str(bad) in str(info.value)


def _registry(tmp_path: Path) -> Path:
    path = tmp_path / "lszh.geojson"
    site = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [8.5492, 47.4647]},
        "properties": {"id": "lszh", "name": "Zurich", "kind": "airbase", "operator": "CH"},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [site]}))
    return path


def test_cli_tracks_events_zurich(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "zurich_airport.json.gz"
    if not path.exists():
        pytest.skip(f"traffic ADS-B sample not present at {path}")
    registry = _registry(tmp_path)
    main(["tracks", "events", "--tracks", str(path), "--sites", str(registry), "--format", "json"])
    out = capsys.readouterr()
    events = json.loads(out.out)
    assert "repeat an earlier row exactly" in out.err  # the sample holds 2,297 duplicated rows
    assert all(set(EVENT_FIELDS) <= set(e) for e in events)
    assert sorted(e["callsign"] for e in events if e["event"] == "arrival") == [
        "CAI3208",
        "EDW229",
        "SWR5220",
        "VJT796",
    ]
    assert len([e for e in events if e["event"] == "departure"]) == 5
    main(["tracks", "import", "--tracks", str(path), "--sites", str(registry), "--format", "json"])
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["flights"]) == 10 and summary["events"] == 9
    swiss = next(f for f in summary["flights"] if f["callsign"] == "SWR5220")
    assert swiss["events"] == ["departure@lszh", "arrival@lszh"]


def test_cli_tracks_missing_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "states.csv"
    path.write_text("timestamp,icao24,latitude,altitude\n2024-12-01T00:00:00Z,abc,35,100\n")
    with pytest.raises(SystemExit) as info:
        main(["tracks", "events", "--tracks", str(path), "--sites", str(_registry(tmp_path))])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert str(path) in err and "longitude" in err and "Traceback" not in err


# --------------------------------------------------------------------------- flights that matter


def _states_without_types(path: Path, tmp_path: Path) -> Path:
    """The scenario's states with the typecode column dropped, as real feeds send them."""
    table = pd.read_csv(path, dtype=str).drop(columns=["typecode"])
    out = tmp_path / "untyped.csv"
    table.to_csv(out, index=False)
    return out


def test_classify_from_states_callsign_and_address_block() -> None:
    from basewatch.context.aircraft_types import address_state, classify, military_callsign

    il76 = classify("15b0a1", callsign="RFF7086", typecode="IL76")
    assert il76.type_class == "heavy transport" and il76.military and il76.state == "RU"
    assert il76.operator.startswith("Russian Air Force")
    tu154 = classify("150001", typecode="T154")
    assert tu154.heavy and not tu154.military  # heavy by type, not military by anything shown
    untyped = classify("15b0a1", callsign="RFF7086")
    assert untyped.type_class == "military" and untyped.state == "RU"
    assert classify("4ba9c3", callsign="THY123").type_class == "civil"
    assert classify("4ba9c3", callsign="THY123").state == "TR"
    assert classify("778123").type_class == "unknown" and classify("778123").state == "SY"
    assert classify("zz").state == "" and address_state("zz") is None
    assert military_callsign("RSD001") is not None and military_callsign("SAMBA1") is None
    assert military_callsign("CNV4421")[0] == "CNV"  # type: ignore[index]


def test_classify_real_military_samples() -> None:
    """The traffic package's US Navy jet and French tanker are military by address/callsign."""
    from basewatch.context.aircraft_types import classify

    for name, icao, state in (
        ("aircraft_carrier.json.gz", "ae0455", "US"),
        ("inflight_refuelling.json.gz", "3b7777", "FR"),
    ):
        path = DATA / name
        if not path.exists():
            pytest.skip(f"traffic ADS-B sample not present at {path}")
        states = read_states(path)
        flight = split_flights(states)[0]
        assert flight.icao24 == icao
        c = classify(flight.icao24, callsign=flight.callsign, typecode=flight.typecode)
        assert c.military and c.type_class == "military" and c.state == state, (name, c)


def test_aircraft_db_opensky_layout(tmp_path: Path) -> None:
    from basewatch.context.aircraft_types import classify, read_aircraft_db

    double = tmp_path / "aircraftDatabase.csv"
    double.write_text(
        '"icao24","registration","manufacturericao","model","typecode","operator","owner"\n'
        '"15b0a1","RA-78830","ILYUSHIN","Il-76MD","IL76","Russian Air Force",""\n'
        '"4ba9c3","TC-JVA","BOEING","737-8F2","B738","Turkish Airlines",""\n'
        '"nothex","X","","","","",""\n'
    )
    single = tmp_path / "aircraft-database-complete-2024-10.csv"
    single.write_text(
        "'icao24','timestamp','model','operator','registration','typecode'\n"
        "'151da2','2024-10-01','An-124-100','224th Flight Unit','RA-82038','A124'\n"
    )
    db = read_aircraft_db(double)
    assert set(db) == {"15b0a1", "4ba9c3"}
    assert db["15b0a1"].typecode == "IL76" and db["15b0a1"].registration == "RA-78830"
    # the database's type wins over the broadcast one; its operator marks it military
    c = classify("15b0a1", callsign="", typecode="A320", db=db)
    assert c.type_class == "heavy transport" and c.military and c.registration == "RA-78830"
    assert read_aircraft_db(single)["151da2"].typecode == "A124"
    bad = tmp_path / "bad.csv"
    bad.write_text("hex,model\nabc,IL76\n")
    with pytest.raises(InputError, match="lacks an icao24 or typecode column"):
        read_aircraft_db(bad)
    with pytest.raises(InputError, match="does not exist"):
        read_aircraft_db(tmp_path / "missing.csv")


def test_flight_activity_counts_routine_traffic(
    scenario: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    from basewatch.context.tracks import classify_events, flight_activity

    path = _states_without_types(scenario[0], tmp_path)
    site = _site("khmeimim", *KHMEIMIM)
    events = airfield_events(split_flights(read_states(path)), [site])
    typed = classify_events(events)  # no type in the states: only callsigns and addresses
    assert {e.type_class for e in typed if e.callsign.startswith("RFF")} == {"military"}
    assert not any(e.heavy for e in typed)
    db_file = tmp_path / "db.csv"
    db_file.write_text("icao24,typecode,operator\n15b0a1,IL76,\n151da2,A124,\n15b0b7,IL76,\n")
    from basewatch.context.aircraft_types import read_aircraft_db

    typed = classify_events(events, read_aircraft_db(db_file))
    summary = flight_activity(typed, site_id="khmeimim")
    assert summary["departures"]["heavy transport"] == 2  # IL76_A and IL76_D
    assert summary["heavy_departures"] == {"IL76": 2}
    assert summary["departures"]["civil"] == 1  # the SYR A320: counted, not listed
    assert all(n["callsign"].startswith("RFF") for n in summary["notable"])
    assert summary["notable_total"] == len(summary["notable"]) == 4
    assert summary["military_departures"] == {"NE": 2}  # climb-out bearing 45 degrees
    departure = next(e for e in typed if e.kind == "departure")
    assert departure.direction == "NE" and 30 < (departure.bearing_deg or 0) < 60
    record = event_record(departure)
    assert record["type_class"] == "heavy transport" and record["direction"] == "NE"
    assert flight_activity(typed, site_id="nowhere")["first_day"] is None


def test_tracks_events_says_what_it_skipped(
    scenario: tuple[Path, dict[str, datetime]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An airport of kind 'other' is not looked at by default: say so and exit 1, not '[]'."""
    path, _ = scenario
    registry = tmp_path / "sites.geojson"
    site = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(KHMEIMIM)},
        "properties": {"id": "latakia-airport", "name": "Latakia", "kind": "other"},
    }
    registry.write_text(json.dumps({"type": "FeatureCollection", "features": [site]}))
    args = ["tracks", "events", "--tracks", str(path), "--sites", str(registry)]
    with pytest.raises(SystemExit) as info:
        main([*args, "--format", "json"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "latakia-airport (kind 'other' is not in airbase)" in err and "--kinds" in err
    main([*args, "--kinds", "airbase,other", "--format", "json"])
    events = json.loads(capsys.readouterr().out)
    assert {e["site_id"] for e in events} == {"latakia-airport"} and len(events) == 5
    main([*args, "--site", "latakia-airport"])
    table = capsys.readouterr().out
    assert "heavy transport" in table and "RFF7086" in table
    imported = ["tracks", "import", "--tracks", str(path), "--sites", str(registry)]
    main([*imported, "--kinds", "other", "--format", "json"])
    flights = json.loads(capsys.readouterr().out)["flights"]
    classes = {f["callsign"]: (f["type_class"], f["military"]) for f in flights}
    assert classes["RFF7086"] == ("heavy transport", True)
    assert classes["THY123"] == ("civil", False)


def test_report_summarises_flights(
    scenario: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    """The report lists heavy and military flights and counts the routine ones."""
    from basewatch.context.tracks import classify_events, flight_activity
    from basewatch.report.html import render_report

    site = _site("khmeimim", *KHMEIMIM)
    events = classify_events(airfield_events(split_flights(read_states(scenario[0])), [site]))
    activity = flight_activity(events, site_id="khmeimim")
    ledger = [
        {
            "site_id": "khmeimim",
            "time": f"2024-12-01T{h:02d}:00:00Z",
            "source": "ADS-B (feed)",
            "kind": "flight",
            "claim": f"THY{h} (B738, icao24 4ba9c{h % 10}) departed from khmeimim",
        }
        for h in range(20)
    ] + [
        {
            "site_id": "khmeimim",
            "time": "2024-12-02T06:00:00Z",
            "source": "ADS-B (feed)",
            "kind": "flight",
            "claim": "RFF7086 (IL76, icao24 15b0a1) departed from khmeimim",
        }
    ]
    assessment = {"sites": [{"site_id": "khmeimim", "posture": "present", "flights": activity}]}
    page = render_report(assessment, evidence=ledger)
    assert "2 heavy-transport departures</strong> (IL76 2)" in page
    assert "RFF7090" in page  # a notable departure is listed
    assert "SYR501" not in page  # the civil A320 is only counted
    assert "21 flight entries" in page and "THY3 (B738" not in page
    assert "RFF7086 (IL76, icao24 15b0a1) departed" in page


def test_times_without_zone_are_read_as_utc_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "states.csv"
    path.write_text(
        "timestamp,icao24,latitude,longitude,altitude\n"
        "2024-12-01 08:00:00,abc,35.4,35.9,100\n2024-12-01T08:00:10Z,abc,35.4,35.9,100\n"
    )
    with pytest.warns(TrackWarning, match=r"1 time\(s\) without a time zone .*'2024-12-01 08"):
        states = read_states(path)
    assert states["timestamp"].iloc[0] == pd.Timestamp("2024-12-01T08:00:00Z")


def test_cli_tracks_import_files_events_of_stored_sites_and_counts_new_ones(
    scenario: tuple[Path, dict[str, datetime]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Events were filed for sites the store does not hold (no page shows them), and a second
    import said '2 stored' again though nothing was added."""
    path, _ = scenario
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    args = ["tracks", "import", "--tracks", str(path), "--sites", "syria-2024", "--format", "json"]
    with pytest.raises(SystemExit):
        main([*args, "--db", empty])
    assert "holds no sites" in capsys.readouterr().err and not (tmp_path / "empty.db").exists()
    db = f"sqlite:///{tmp_path / 'bw.db'}"
    main(["sites", "import", "syria-2024", "--db", db])
    capsys.readouterr()
    main([*args, "--db", db])
    first = json.loads(capsys.readouterr().out)
    main([*args, "--db", db])
    again = json.loads(capsys.readouterr().out)
    assert first["stored"] == first["new"] == again["stored"] > 0 and again["new"] == 0
