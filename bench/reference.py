"""The zone's own history as a reference (issue 15 item 3): what it changes in ship counts.

(a) Simulated piers (:mod:`basewatch.analysis.pier`, rendered by the demo's simulator and
counted by the shipped Sentinel-2 ship detector through :func:`basewatch.observe.observe`):
a year of passes every 5 days over two piers with quay cranes and two hulks that never move,
warships coming and going, and a frigate alongside for 60 days (days 200-259). Count error
against the warships that come and go, without and with the reference, on the passes where
the reference is in force; the same on piers without cranes or hulks (the reference must
not cost anything there); and the frigate: passes it was detected, passes its detection was
taken as static (must be 0), and the count while it is there and after it leaves.

(b) The real Hong Kong harbour pair of OSCD (Sentinel-2 L1C, 2016-09-27 and 2018-03-23):
the detector's detections on both dates and which of the 2018 ones the 2016 scene would
suppress as static (a reference of one scene, with the minimum history lowered to one so
that anything happens at all; the shipped minimum is 12 scenes over 120 days, so with two
dates the monitor suppresses nothing and says ``reference-short``), and where they lie:
against the water (NDWI) and the OSCD urban-change labels.

Usage: ``OMP_NUM_THREADS=1 python bench/reference.py [--seeds 3] [--oscd DIR]``.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from basewatch.analysis.pier import Pass, PierSpec, frigate_lonlat, pier_passes, pier_zone
from basewatch.observe import Observation, observe
from basewatch.reference import ReferenceParams, apply_reference, footprints, raw_count

OSCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "change_detection_oscd_s2"
START = date(2024, 1, 2)
FRIGATE_DAYS = (200, 260)


def _series(spec: PierSpec) -> tuple[list[Observation], list[int], list[bool], list[Pass]]:
    zone = pier_zone()
    obs, truth, frigate, passes = [], [], [], []
    for p in pier_passes(spec):
        obs.append(observe(p.chip, zone))
        truth.append(p.truth)
        frigate.append(p.frigate)
        passes.append(replace(p, chip=None))  # type: ignore[arg-type]  # keep the truth only
    return obs, truth, frigate, passes


def _attribute(o: Observation, p: Pass) -> list[str]:
    """Each detection's nearest simulated object within 80 m: ``ship``, ``static`` or ``none``."""
    origin = o.detections[0]["geometry"]["coordinates"][0][0]
    prints = footprints(o.detections, tuple(origin))
    kx = 111_320.0 * math.cos(math.radians(origin[1]))

    def plane(lonlat: tuple[float, float]) -> tuple[float, float]:
        return (lonlat[0] - origin[0]) * kx, (lonlat[1] - origin[1]) * 110_574.0

    things = [("ship", plane(c)) for c in p.ships] + [("static", plane(c)) for c in p.statics]
    out = []
    for f in prints:
        best = min(things, key=lambda t: math.hypot(f.x - t[1][0], f.y - t[1][1]), default=None)
        near = best is not None and math.hypot(f.x - best[1][0], f.y - best[1][1]) <= 80.0
        out.append(best[0] if near and best else "none")
    return out


def _active(o: Observation) -> bool:
    return any(f.startswith("reference=") for f in o.flags)


def _near(o: Observation, lonlat: tuple[float, float], metres: float) -> list[dict]:
    prints = footprints(o.detections, lonlat)
    return [f for f, p in zip(o.detections, prints, strict=True) if math.hypot(p.x, p.y) <= metres]


def simulated(seeds: int) -> None:
    """Print part (a)."""
    frig = (START + timedelta(days=FRIGATE_DAYS[0]), START + timedelta(days=FRIGATE_DAYS[1]))
    rows = []
    split: dict[tuple[str, bool], int] = {}
    fr: dict[str, Any] = {"passes": 0, "detected": 0, "static": 0}
    fr.update({"during": [], "after": [], "truth during": [], "truth after": [], "statics": []})
    for seed in range(seeds):
        for statics in (True, False):
            spec = PierSpec(start=START, days=365, frigate=frig, statics=statics, seed=seed)
            obs, truth, on, passes = _series(spec)
            ref = apply_reference(obs)
            act = [k for k, o in enumerate(ref) if _active(o)]
            raw = np.array([raw_count(obs[k]) for k in act])
            adj = np.array([ref[k].value for k in act])
            t = np.array([truth[k] for k in act])
            rows.append((seed, statics, len(obs), len(act), raw - t, adj - t))
            if not statics:
                continue
            for k in act:
                if not ref[k].detections:
                    continue
                kinds = _attribute(ref[k], passes[k])
                for kind, f in zip(kinds, ref[k].detections, strict=True):
                    marked = bool(f["properties"].get("static"))
                    split[(kind, marked)] = split.get((kind, marked), 0) + 1
            where = frigate_lonlat(seed)
            last_on = max(k for k, v in enumerate(on) if v)
            fr["statics"] += [len(o.detections) - (o.value or 0.0) for o in ref if _active(o)]
            for k, o in enumerate(ref):
                if on[k]:
                    fr["passes"] += 1
                    near = _near(o, where, 40.0)
                    fr["detected"] += bool(near)
                    fr["static"] += any(f["properties"].get("static") for f in near)
                    fr["during"].append(o.value)
                    fr["truth during"].append(truth[k])
                elif last_on < k <= last_on + 3:
                    fr["after"].append(o.value)
                    fr["truth after"].append(truth[k])
    print("(a) simulated piers, one pass every 5 days for 365 days, reference in force from")
    print("    day ~120 (12 clear scenes over 120 days); error = count - warships that come and go")
    print(
        f"{'seed':>4} {'statics':>7} {'passes':>6} {'in force':>8}  {'MAE raw':>7} "
        f"{'MAE ref':>7}  {'bias raw':>8} {'bias ref':>8}"
    )
    for statics in (True, False):
        for seed, s, n, a, e_raw, e_ref in (r for r in rows if r[1] == statics):
            print(
                f"{seed:>4} {str(s):>7} {n:>6} {a:>8}  {np.abs(e_raw).mean():7.2f} "
                f"{np.abs(e_ref).mean():7.2f}  {e_raw.mean():+8.2f} {e_ref.mean():+8.2f}"
            )
        e_raw = np.concatenate([r[4] for r in rows if r[1] == statics])
        e_ref = np.concatenate([r[5] for r in rows if r[1] == statics])
        print(
            f"{'all':>4} {str(statics):>7} {'':>6} {len(e_raw):>8}  "
            f"{np.abs(e_raw).mean():7.2f} {np.abs(e_ref).mean():7.2f}  "
            f"{e_raw.mean():+8.2f} {e_ref.mean():+8.2f}"
        )
    print(
        f"frigate alongside days {FRIGATE_DAYS[0]}-{FRIGATE_DAYS[1] - 1}: {fr['passes']} passes, "
        f"detected on {fr['detected']}, taken as static on {fr['static']}"
    )
    print(
        f"  mean count while alongside {np.mean(fr['during']):.2f} (truth "
        f"{np.mean(fr['truth during']):.2f}), on the 3 passes after it left "
        f"{np.mean(fr['after']):.2f} (truth {np.mean(fr['truth after']):.2f})"
    )
    print(f"  detections taken as static per pass in force: {np.mean(fr['statics']):.2f}")
    print("detections on the passes in force (piers with statics), by the nearest simulated")
    print("object within 80 m (static = hulk or crane, ship = warship that comes and goes):")
    for kind in ("static", "ship", "none"):
        n_all = split.get((kind, False), 0) + split.get((kind, True), 0)
        n_sup = split.get((kind, True), 0)
        print(f"  {kind:>6}: {n_all:4d}, suppressed {n_sup:4d}")


def _read_s2(folder: Path) -> tuple[dict[str, np.ndarray], Any, str]:
    import rasterio
    from rasterio.enums import Resampling

    names = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "swir16": "B11"}
    bands: dict[str, np.ndarray] = {}
    with rasterio.open(next(folder.glob("*_B02.tif"))) as ref:
        shape, transform, crs = ref.shape, ref.transform, str(ref.crs)
    if crs == "EPSG:4326":  # as the loader does: metres, on a local transverse Mercator
        transform, crs = _local_metres(transform)
    for name, code in names.items():
        with rasterio.open(next(folder.glob(f"*_{code}.tif"))) as src:
            data = src.read(1, out_shape=shape, resampling=Resampling.nearest)
        bands[name] = data.astype(np.float32) * np.float32(1e-4)
    return bands, transform, crs


HK_CRS = "+proj=tmerc +lat_0=22.3 +lon_0=114.2 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
"""A local transverse Mercator around Hong Kong (no grid convergence over the AOI)."""


def _local_metres(transform: Any) -> tuple[Any, str]:
    """The EPSG:4326 grid of the OSCD files as an (almost exactly) equivalent metric one."""
    from affine import Affine
    from pyproj import Transformer

    to_m = Transformer.from_crs("EPSG:4326", HK_CRS, always_xy=True)
    x0, y0 = to_m.transform(transform.c, transform.f)
    x1, y1 = to_m.transform(transform.c + 100 * transform.a, transform.f + 100 * transform.e)
    return Affine((x1 - x0) / 100, 0.0, x0, 0.0, (y1 - y0) / 100, y0), HK_CRS


def hong_kong(root: Path) -> None:
    """Print part (b)."""
    import json
    from datetime import UTC, datetime

    from shapely.geometry import shape

    from basewatch.imagery.chip import Chip
    from basewatch.sites import Zone

    city = root / "hongkong"
    if not city.is_dir():
        print(f"(b) skipped: {city} not found (give --oscd)")
        return
    aoi = json.loads((city / "hongkong.geojson").read_text(encoding="utf-8"))
    geom = shape(aoi["features"][0]["geometry"] if "features" in aoi else aoi["geometry"])
    zone = Zone(site_id="hongkong", id="harbour", kind="naval-pier", target="ship", geometry=geom)
    dates = {
        "imgs_1": datetime(2016, 9, 27, 3, tzinfo=UTC),
        "imgs_2": datetime(2018, 3, 23, 3, tzinfo=UTC),
    }
    obs, water = [], []
    for folder, when in dates.items():
        bands, transform, crs = _read_s2(city / folder)
        valid = np.all([np.isfinite(b) & (b > 0) for b in bands.values()], axis=0)
        chip = Chip(
            scene_id=f"oscd-hongkong-{folder}",
            sensor="sentinel-2",
            time=when,
            bands=bands,
            transform=transform,
            crs=crs,
            resolution_m=float(abs(transform.a)),
            zone_mask=np.ones(valid.shape, bool),
            valid=valid,
            meta={"collection": "oscd"},
        )
        t0 = time.perf_counter()
        obs.append(observe(chip, zone))
        ndwi = (bands["green"] - bands["nir"]) / (bands["green"] + bands["nir"] + 1e-6)
        water.append((ndwi > 0.0, transform, time.perf_counter() - t0))
    cm = _change_mask(city)
    print("(b) OSCD Hong Kong, Sentinel-2 L1C, 2016-09-27 and 2018-03-23, whole 540 x 695 px AOI")
    for o, (_, _, secs) in zip(obs, water, strict=True):
        print(f"    {o.scene_id}: {len(o.detections)} detections ({secs:.1f} s)")
    shipped = apply_reference(obs)
    print(
        f"    shipped settings: 2018 flags {sorted(shipped[1].flags)} -> count "
        f"{shipped[1].value:.0f} of {raw_count(obs[1]):.0f} (nothing suppressed)"
    )
    one = ReferenceParams(
        min_scenes=1, min_span_days=0.0, window_days=1000.0, static_share=0.51, early_scenes=1
    )
    forced = apply_reference([replace(obs[0], clear_fraction=1.0), obs[1]], one)[1]
    static = [f for f in forced.detections if f["properties"].get("static")]
    moving = [f for f in forced.detections if not f["properties"].get("static")]
    print(
        f"    one-scene reference (2016 as the reference of 2018): {len(static)} of "
        f"{len(forced.detections)} detections persist (would be static), {len(moving)} differ"
    )
    mask, transform, _ = water[1]
    for label, group in (("persisting", static), ("differing", moving)):
        shore, changed = 0, 0
        for f in group:
            col, row = _pixel(f, transform)
            r0, r1 = max(row - 3, 0), row + 4
            c0, c1 = max(col - 3, 0), col + 4
            window = mask[r0:r1, c0:c1]
            shore += bool(window.size and (~window).mean() > 0.25)  # land within 30 m
            changed += bool(cm is not None and cm[r0:r1, c0:c1].any())
        n = max(len(group), 1)
        print(
            f"      {label:>10}: {len(group):3d}, {shore} ({shore / n:.0%}) with land within "
            f"30 m (quays), {changed} ({changed / n:.0%}) touching OSCD urban change"
        )


def _pixel(feature: dict, transform: Any) -> tuple[int, int]:
    from pyproj import Transformer

    ring = feature["geometry"]["coordinates"][0][:-1]
    lon = sum(p[0] for p in ring) / len(ring)
    lat = sum(p[1] for p in ring) / len(ring)
    x, y = Transformer.from_crs("EPSG:4326", HK_CRS, always_xy=True).transform(lon, lat)
    col, row = ~transform * (x, y)
    return int(col), int(row)


def _change_mask(city: Path) -> np.ndarray | None:
    from PIL import Image

    png = city / "cm" / "cm.png"
    if not png.exists():
        return None
    return np.asarray(Image.open(png).convert("L")) > 127


def main() -> None:
    """Run both parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--oscd", type=Path, default=OSCD)
    args = parser.parse_args()
    t0 = time.perf_counter()
    simulated(args.seeds)
    hong_kong(args.oscd)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
