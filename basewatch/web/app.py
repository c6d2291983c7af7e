"""The FastAPI application behind ``basewatch serve``: JSON API, HTML pages, offline API docs.

Routes (all read-only unless noted):

- ``GET /`` overview page (every stored site with its posture); ``GET /sites/{id}`` one
  site's page, rendered by the report code (same charts as the HTML report).
- ``GET /api/sites``, ``/api/sites/{id}``, ``/api/sites/{id}/observations``,
  ``/api/sites/{id}/assessment``, ``/api/sites/{id}/evidence``.
- ``POST /api/evidence`` and ``POST /api/sites`` (writes) need
  ``Authorization: Bearer <token>``: 401 without it, 403 with a wrong one, and 403 for
  everyone when the server has no token (``BASEWATCH_TOKEN`` unset).
- ``GET /openapi.json`` (the schema) and ``GET /docs``, a plain HTML list of the
  operations built from that schema. FastAPI's Swagger UI and ReDoc pages are switched
  off because they load JavaScript from a CDN; nothing here touches the network.
- ``GET /api/sites/{id}/chips`` and ``.../zones/{zone}/chips/{scene}(.png)``: chip images
  read again from the stored scene (ids only, never paths); ``.../zones/{zone}/overlays/
  {scene}(.png)`` the same chip warped onto Web Mercator with its bounds, ready for
  ``L.imageOverlay``.
- ``GET /static/{path}`` files of ``basewatch/web/static`` only (no path traversal).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, Field, model_validator
from shapely.geometry import mapping

from basewatch import __version__
from basewatch.context.evidence import KINDS as EVIDENCE_KINDS
from basewatch.context.evidence import entry_record, make_entry, normalise_kind, parse_grade
from basewatch.errors import BasewatchError, ImageryError, InputError
from basewatch.sites import Site, Zone
from basewatch.store import Store, open_store

if TYPE_CHECKING:
    from basewatch.context.threat import Front, Weapon
    from basewatch.report.chips import ChipImage

__all__ = ["STATIC_DIR", "TOKEN_ENV", "create_app", "serve"]

TOKEN_ENV = "BASEWATCH_TOKEN"
"""Environment variable holding the bearer token that allows writes."""
STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The only folder served under ``/static``."""
CHIP_CACHE_SIZE = 64
"""Rendered chips kept in memory per app."""


# --------------------------------------------------------------------------- bodies


class EvidenceIn(BaseModel):
    """Body of ``POST /api/evidence``: one entry of the evidence ledger.

    The fields are those of ``basewatch evidence add`` (README "Evidence ledger"). ``text``
    is the deprecated name of ``claim``, and the old kinds ``image``, ``track`` and
    ``text`` are read as ``imagery``, ``flight`` and ``other``: both are accepted with a
    notice in the response's ``deprecated`` list; giving ``claim`` and ``text`` is a 422.
    """

    site_id: str = Field(min_length=1, max_length=200, description="Id of a stored site.")
    time: AwareDatetime = Field(
        description="When the claimed fact happened or was observed (with a time zone)."
    )
    source: str = Field(min_length=1, max_length=500, description="Who published it.")
    url: str = Field(
        default="",
        pattern=r"^(?:https?://\S+)?$",
        max_length=2000,
        description="http(s) link to the source ('' when none).",
    )
    claim: str | None = Field(
        default=None, min_length=1, max_length=20000, description="What the source says."
    )
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=20000,
        description="Deprecated name of claim.",
        json_schema_extra={"deprecated": True},
    )
    kind: str = Field(
        default="other", description=f"One of {', '.join(EVIDENCE_KINDS)} (old kinds mapped)."
    )
    grade: str = Field(
        default="F6",
        description="Admiralty grade: source reliability A-F, then credibility 1-6 (e.g. B2).",
    )

    @model_validator(mode="after")
    def _one_claim(self) -> EvidenceIn:
        """Exactly one of ``claim`` and its deprecated name ``text``; kind and grade valid."""
        if self.claim is not None and self.text is not None:
            raise ValueError("give 'claim' only ('text' is its deprecated name)")
        if self.claim is None and self.text is None:
            raise ValueError("'claim' is required: what the source says")
        normalise_kind(self.kind, where="kind")
        parse_grade(self.grade, where="grade")
        return self


class SitesIn(BaseModel):
    """Body of ``POST /api/sites``: a registry FeatureCollection (DESIGN.md format)."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]] = Field(min_length=1, max_length=10000)


# --------------------------------------------------------------------------- JSON views


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _site_summary(site: Site, assessed: dict[str, Any] | None) -> dict[str, Any]:
    """The short JSON record of a site (list view)."""
    lon, lat = site.point
    return {
        "id": site.id,
        "name": site.name,
        "kind": site.kind,
        "operator": site.operator,
        "country": site.country,
        "lon": lon,
        "lat": lat,
        "zones": [z.id for z in site.zones],
        "posture": (assessed or {}).get("posture", "unknown"),
        "confidence": (assessed or {}).get("confidence"),
    }


def _site_detail(site: Site, assessed: dict[str, Any] | None) -> dict[str, Any]:
    """The full JSON record of a site with geometries (GeoJSON) and zones."""
    record = _site_summary(site, assessed)
    record["geometry"] = mapping(site.geometry)
    record["properties"] = site.properties
    record["zones"] = [
        {
            "id": z.id,
            "name": z.name,
            "kind": z.kind,
            "target": z.target,
            "geometry": mapping(z.geometry),
            "properties": z.properties,
        }
        for z in site.zones
    ]
    return record


def _observation_record(obs: Any, *, detections: bool) -> dict[str, Any]:
    """One stored observation as JSON."""
    record = {
        "site_id": obs.site_id,
        "zone_id": obs.zone_id,
        "scene_id": obs.scene_id,
        "time": _iso(obs.time),
        "sensor": obs.sensor,
        "detector": obs.detector,
        "detector_version": obs.detector_version,
        "metric": obs.metric,
        "value": obs.value,
        "clear_fraction": obs.clear_fraction,
        "flags": list(obs.flags),
        "n_detections": len(obs.detections),
    }
    if detections:
        record["detections"] = list(obs.detections)
    return record


def _image_record(
    site_id: str, zone_id: str, scene_id: str, bounds: Sequence[float], kind: str
) -> dict[str, Any]:
    """Where a zone's image of one scene lies (EPSG:4326 bounds) and the URL of its PNG;
    ``kind`` is ``chips`` or ``overlays``."""
    url = f"/api/sites/{quote(site_id, safe='')}/zones/{quote(zone_id, safe='')}"
    return {
        "site_id": site_id,
        "zone_id": zone_id,
        "scene_id": scene_id,
        "bounds": [float(b) for b in bounds],
        "png": f"{url}/{kind}/{quote(scene_id, safe='')}.png",
    }


def _evidence_record(entry: dict[str, Any]) -> dict[str, Any]:
    """One evidence entry as JSON: the fields of ``basewatch.context.evidence.FIELDS``."""
    return entry_record(entry)


# --------------------------------------------------------------------------- app


class _Context:
    """What every route needs: the store, the write token and the map context."""

    def __init__(
        self,
        store: Store,
        token: str | None,
        fronts: Sequence[Front] = (),
        weapons: Sequence[Weapon] = (),
    ) -> None:
        self.store = store
        self.token = token or None
        self.fronts = tuple(fronts)
        self.weapons = tuple(weapons)
        self._chips: dict[tuple[str, str, str], ChipImage] = {}
        self._overlays: dict[tuple[str, str, str], ChipImage] = {}
        self._pictures: dict[tuple[Any, ...], dict[str, Any]] = {}

    def overlay(self, site_id: str, zone: Zone, scene_id: str) -> ChipImage:
        """The map overlay (chip warped to Web Mercator) of ``zone`` in ``scene_id`` (cached).

        Raises :class:`~basewatch.errors.ImageryError` when the scene is not stored or
        cannot be read.
        """
        key = (site_id, zone.id, scene_id)
        if key not in self._overlays:
            record = next((r for r in self.store.scenes() if r.id == scene_id), None)
            if record is None:
                raise ImageryError(f"scene {scene_id} is not in the store")
            from basewatch.report.chips import chip_overlay

            if len(self._overlays) >= CHIP_CACHE_SIZE:
                self._overlays.pop(next(iter(self._overlays)))
            self._overlays[key] = chip_overlay(record, zone)
        return self._overlays[key]

    def pictures(self, site: Site, payload: dict[str, Any]) -> dict[str, Any]:
        """The report's before/after chips of ``site`` (cached per assessment and store)."""
        key = (site.id, payload.get("generated"), len(self.store.observations(site_id=site.id)))
        if key not in self._pictures:
            from basewatch.report.build import _before_after

            self._pictures[key] = _before_after(self.store, payload, [site])
        return self._pictures[key]

    def site(self, site_id: str) -> Site:
        """The stored site ``site_id``; HTTP 404 naming the known ids otherwise."""
        sites = self.store.sites()
        for site in sites:
            if site.id == site_id:
                return site
        known = ", ".join(s.id for s in sites[:20]) or "none"
        raise HTTPException(
            status_code=404,
            detail=f"no site {site_id!r} in the store; known sites: {known}",
        )

    def chip(self, site_id: str, zone_id: str, scene_id: str) -> ChipImage:
        """The rendered chip of a stored zone and scene (cached); 404 for unknown ids."""
        key = (site_id, zone_id, scene_id)
        if key in self._chips:
            return self._chips[key]
        zone, record = self.zone_scene(site_id, zone_id, scene_id)
        from basewatch.report.chips import chip_png

        detections = [
            feature
            for obs in self.store.observations(site_id=site_id, zone_id=zone_id)
            if obs.scene_id == scene_id
            for feature in obs.detections
        ]
        try:
            image = chip_png(record, zone, detections)
        except ImageryError as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from exc
        if len(self._chips) >= CHIP_CACHE_SIZE:
            self._chips.pop(next(iter(self._chips)))
        self._chips[key] = image
        return image

    def zone_scene(self, site_id: str, zone_id: str, scene_id: str) -> tuple[Zone, Any]:
        """The stored zone and scene record named by ids; HTTP 404 for unknown ids."""
        site = self.site(site_id)
        zone = next((z for z in site.zones if z.id == zone_id), None)
        if zone is None:
            known = ", ".join(z.id for z in site.zones) or "none"
            raise HTTPException(
                status_code=404, detail=f"site {site_id!r} has no zone {zone_id!r}; zones: {known}"
            )
        record = next((r for r in self.store.scenes() if r.id == scene_id), None)
        if record is None:
            raise HTTPException(status_code=404, detail=f"no scene {scene_id!r} in the store")
        return zone, record

    def map_overlay(self, site_id: str, zone_id: str, scene_id: str) -> ChipImage:
        """:meth:`overlay` for ids from a request: 404 for unknown ids, 502 if unreadable."""
        zone, _ = self.zone_scene(site_id, zone_id, scene_id)
        try:
            return self.overlay(site_id, zone, scene_id)
        except ImageryError as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from exc

    def assessed(self) -> dict[str, dict[str, Any]]:
        """Site id -> its entry in the latest stored assessment."""
        payload = self.store.latest_assessment() or {}
        return {str(s.get("site_id")): s for s in payload.get("sites", []) if isinstance(s, dict)}


def _auth_dependency(ctx: _Context) -> Callable[[str | None], None]:
    """A dependency that lets a request through only with the right bearer token."""

    def require_token(authorization: str | None = Header(default=None)) -> None:
        if ctx.token is None:
            raise HTTPException(
                status_code=403,
                detail=f"writes are disabled on this server: start it with {TOKEN_ENV} set",
            )
        if not authorization:
            raise HTTPException(
                status_code=401,
                detail="writing needs an 'Authorization: Bearer <token>' header",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HTTPException(
                status_code=401,
                detail="the Authorization header must be 'Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.strip().encode(), ctx.token.encode()):
            raise HTTPException(status_code=403, detail="wrong token")

    return require_token


def _query_names(dependant: Any) -> set[str]:
    """The query parameter names a route (and its dependencies) reads."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _refuse_unknown_query(request: Request) -> None:
    """422 for a query parameter the API route does not take (``?site=x`` on a route
    without filters, a misspelt ``?detection=true``): ignored, it looked like a filter."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.url.path.startswith("/api/"):
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "no query parameters"
        raise HTTPException(
            status_code=422,
            detail=f"unknown query parameter {', '.join(repr(u[:100]) for u in unknown[:5])} "
            f"for {route.path}; it takes {takes}",
        )


def create_app(
    db: str,
    *,
    token: str | None = None,
    simulated: bool = False,
    store: Store | None = None,
    fronts: Sequence[Front] = (),
    weapons: Sequence[Weapon] | None = None,
) -> FastAPI:
    """The dashboard and API over the store at ``db``.

    ``token`` is the bearer token that allows ``POST`` writes (None or empty: writes are
    refused); :func:`serve` takes it from ``BASEWATCH_TOKEN``. ``simulated`` makes the
    site pages say that their imagery is simulated. ``store`` reuses an open store (it is
    then not closed with the app). ``fronts`` (:func:`basewatch.context.threat.load_front`) add
    front lines, distances and the range rings of ``weapons`` (default: the bundled
    catalogue) to the site maps.
    """
    if fronts and weapons is None:
        from basewatch.context.threat import load_weapons

        weapons = load_weapons()
    owned = store is None
    opened = store if store is not None else open_store(db, create=False)
    ctx = _Context(opened, token, fronts, weapons or ())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            ctx.store.close()

    app = FastAPI(
        title="basewatch",
        version=__version__,
        description="Watched sites, observations, assessments and evidence.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(_refuse_unknown_query)],
    )
    _add_api_routes(app, ctx)
    _add_page_routes(app, ctx, simulated=simulated)
    _add_error_pages(app)
    return app


def _add_api_routes(app: FastAPI, ctx: _Context) -> None:
    """The JSON API."""
    check_token = _auth_dependency(ctx)
    app.state.check_token = check_token  # for the schema errors of writes (_add_error_pages)
    require_token = Depends(check_token)

    @app.get("/api/sites", summary="List stored sites with their posture")
    def list_sites() -> list[dict[str, Any]]:
        assessed = ctx.assessed()
        return [_site_summary(s, assessed.get(s.id)) for s in ctx.store.sites()]

    @app.get("/api/sites/{site_id}", summary="One site with its zones (GeoJSON geometries)")
    def get_site(site_id: str) -> dict[str, Any]:
        return _site_detail(ctx.site(site_id), ctx.assessed().get(site_id))

    @app.get("/api/sites/{site_id}/observations", summary="Stored observations of a site")
    def get_observations(
        site_id: str,
        zone: str | None = Query(default=None, description="Only this zone."),
        detections: bool = Query(default=False, description="Include detection features."),
    ) -> list[dict[str, Any]]:
        site = ctx.site(site_id)
        if zone is not None and zone not in {z.id for z in site.zones}:
            known = ", ".join(z.id for z in site.zones) or "none"
            raise HTTPException(
                status_code=404, detail=f"site {site_id!r} has no zone {zone!r}; zones: {known}"
            )
        found = ctx.store.observations(site_id=site_id, zone_id=zone)
        return [_observation_record(o, detections=detections) for o in found]

    @app.get("/api/sites/{site_id}/assessment", summary="The site's latest assessment")
    def get_assessment(site_id: str) -> dict[str, Any]:
        ctx.site(site_id)
        payload = ctx.store.latest_assessment() or {}
        for entry in payload.get("sites", []):
            if isinstance(entry, dict) and entry.get("site_id") == site_id:
                return {
                    "generated": payload.get("generated"),
                    "as_of": payload.get("as_of"),
                    **entry,
                }
        raise HTTPException(
            status_code=404,
            detail=f"site {site_id!r} has no stored assessment yet; run 'basewatch assess'",
        )

    @app.get("/api/sites/{site_id}/chips", summary="Chip images available for a site")
    def list_chips(site_id: str) -> list[dict[str, Any]]:
        ctx.site(site_id)
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        for obs in ctx.store.observations(site_id=site_id):
            base = f"/api/sites/{quote(site_id, safe='')}/zones/{quote(obs.zone_id, safe='')}"
            url = f"{base}/chips/{quote(obs.scene_id, safe='')}"
            seen[(obs.zone_id, obs.scene_id)] = {
                "zone_id": obs.zone_id,
                "scene_id": obs.scene_id,
                "time": _iso(obs.time),
                "sensor": obs.sensor,
                "clear_fraction": obs.clear_fraction,
                "url": url,
                "png": url + ".png",
            }
        return sorted(seen.values(), key=lambda c: (c["time"], c["zone_id"], c["scene_id"]))

    @app.get(
        "/api/sites/{site_id}/zones/{zone_id}/chips/{scene_id}.png",
        summary="One zone's pixels from one scene (PNG; detections in red, cloud transparent)",
        response_class=Response,
    )
    def get_chip_png(site_id: str, zone_id: str, scene_id: str) -> Response:
        image = ctx.chip(site_id, zone_id, scene_id)
        return Response(content=image.png, media_type="image/png")

    @app.get(
        "/api/sites/{site_id}/zones/{zone_id}/chips/{scene_id}",
        summary="Where a chip lies (EPSG:4326 bounds) and its PNG",
    )
    def get_chip(site_id: str, zone_id: str, scene_id: str) -> dict[str, Any]:
        image = ctx.chip(site_id, zone_id, scene_id)
        return _image_record(site_id, zone_id, scene_id, image.bounds, "chips")

    @app.get(
        "/api/sites/{site_id}/zones/{zone_id}/overlays/{scene_id}.png",
        summary="A chip warped onto Web Mercator for a map overlay (PNG; outside transparent)",
        response_class=Response,
    )
    def get_overlay_png(site_id: str, zone_id: str, scene_id: str) -> Response:
        image = ctx.map_overlay(site_id, zone_id, scene_id)
        return Response(content=image.png, media_type="image/png")

    @app.get(
        "/api/sites/{site_id}/zones/{zone_id}/overlays/{scene_id}",
        summary="Where a map overlay goes (EPSG:4326 bounds for L.imageOverlay) and its PNG",
    )
    def get_overlay(site_id: str, zone_id: str, scene_id: str) -> dict[str, Any]:
        image = ctx.map_overlay(site_id, zone_id, scene_id)
        return _image_record(site_id, zone_id, scene_id, image.bounds, "overlays")

    @app.get("/api/sites/{site_id}/evidence", summary="The site's evidence ledger")
    def get_evidence(site_id: str) -> list[dict[str, Any]]:
        ctx.site(site_id)
        return [_evidence_record(e) for e in ctx.store.evidence(site_id=site_id)]

    @app.post(
        "/api/evidence",
        status_code=201,
        dependencies=[require_token],
        summary="Add an evidence entry (bearer token)",
    )
    def post_evidence(body: EvidenceIn, response: Response) -> dict[str, Any]:
        ctx.site(body.site_id)
        deprecated = []
        if body.text is not None:
            deprecated.append("'text' is deprecated; send what the source says as 'claim'")
        notice = normalise_kind(body.kind)[1]
        if notice:
            deprecated.append(notice)
        entry = make_entry(
            site_id=body.site_id,
            time=body.time,
            source=body.source,
            url=body.url,
            kind=body.kind,
            claim=body.claim if body.claim is not None else str(body.text),
            grade=body.grade,
            where="POST /api/evidence",
        )
        identity: dict[str, Any] = {  # what makes an entry the same entry (not its grade)
            "site_id": entry.site_id,
            "time": entry.time,
            "source": entry.source,
            "url": entry.url,
            "claim": entry.claim,
            "kind": entry.kind,
        }
        before = ctx.store.evidence_grade(**identity)
        entry_id = ctx.store.add_evidence(
            **identity, reliability=entry.reliability, credibility=entry.credibility
        )
        record: dict[str, Any] = {"id": entry_id, "site_id": body.site_id, "grade": entry.grade}
        if before is None:
            record["stored"] = "added"
        else:  # the same entry again: 200, and say whether its grade changed
            response.status_code = 200
            record["stored"] = "unchanged" if before == entry.grade else "regraded"
            if before != entry.grade:
                record["previous_grade"] = before
        if deprecated:
            record["deprecated"] = deprecated
        return record

    @app.post(
        "/api/sites",
        status_code=201,
        dependencies=[require_token],
        summary="Add or update sites from a registry FeatureCollection (bearer token)",
    )
    def post_sites(
        body: SitesIn,
        replace: bool = Query(
            default=False,
            description="Store the sites as given even where that deletes stored zones or "
            "moves a stored site by more than 1 km (as sites import --replace).",
        ),
    ) -> dict[str, Any]:
        from basewatch.sites import registry_from_features, stored_conflicts

        try:
            registry = registry_from_features(body.features, source="POST /api/sites")
        except BasewatchError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        conflicts = stored_conflicts(ctx.store.sites(), registry.sites)
        if conflicts and not replace:
            raise HTTPException(
                status_code=422,
                detail="; ".join(conflicts) + ": the stored observations would lose their zone "
                "or place; send each site with all its zone features at its stored location "
                "(a registry FeatureCollection), or add ?replace=true",
            )
        ctx.store.upsert_sites(registry.sites)
        answer: dict[str, Any] = {"sites": [s.id for s in registry.sites]}
        if conflicts:
            answer["replaced"] = conflicts
        return answer


def _add_page_routes(app: FastAPI, ctx: _Context, *, simulated: bool) -> None:
    """HTML pages, offline API docs and static files."""
    from basewatch.report.html import is_simulated, render_overview, render_report

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview() -> HTMLResponse:
        assessed = ctx.assessed()
        rows = [
            {**_site_summary(s, assessed.get(s.id)), "href": "/sites/" + quote(s.id, safe="")}
            for s in ctx.store.sites()
        ]
        payload = ctx.store.latest_assessment() or {}
        return HTMLResponse(
            render_overview(
                rows,
                generated=payload.get("generated"),
                simulated=simulated or is_simulated(payload),
                map_data=_with_fronts(_map_features(ctx.store.sites(), assessed), ctx.fronts),
            )
        )

    @app.get("/sites/{site_id}", response_class=HTMLResponse, include_in_schema=False)
    def site_page(site_id: str) -> HTMLResponse:
        site = ctx.site(site_id)
        payload = ctx.store.latest_assessment() or {}
        entry = ctx.assessed().get(site_id) or {"site_id": site_id, "posture": "unknown"}
        page = render_report(
            {**payload, "sites": [entry]},
            sites=[site],
            title=f"basewatch: {site.name or site.id}",
            evidence=ctx.store.evidence(site_id=site_id),
            simulated=simulated,
            home_url="/",
            site_maps={site_id: _site_map(ctx, site, str(entry.get("posture") or "unknown"))},
            chips=ctx.pictures(site, {**payload, "sites": [entry]}),
            inline_assets=False,
        )
        return HTMLResponse(page)

    @app.get(
        "/sites/{site_id}/zones/{zone_id}", response_class=HTMLResponse, include_in_schema=False
    )
    def zone_timeline(
        site_id: str,
        zone_id: str,
        date: str | None = Query(default=None, description="YYYY-MM-DD: the observation shown."),
        sensor: str | None = Query(default=None, description="Step through this sensor only."),
        compare: str | None = Query(default=None, description="YYYY-MM-DD shown beside it."),
    ) -> HTMLResponse:
        from basewatch.report.html import render_timeline

        site = ctx.site(site_id)
        if zone_id not in {z.id for z in site.zones}:
            known = ", ".join(z.id for z in site.zones) or "none"
            raise HTTPException(
                status_code=404, detail=f"site {site_id!r} has no zone {zone_id!r}; zones: {known}"
            )
        entry = ctx.assessed().get(site_id) or {}
        zones = [z for z in entry.get("zones", []) if isinstance(z, dict)]
        assessed_zone = next((z for z in zones if z.get("zone_id") == zone_id), None)
        base = f"/api/sites/{quote(site_id, safe='')}/zones/{quote(zone_id, safe='')}/chips/"
        payload = ctx.store.latest_assessment() or {}
        return HTMLResponse(
            render_timeline(
                site,
                zone_id,
                ctx.store.observations(site_id=site_id, zone_id=zone_id),
                assessed_zone=assessed_zone,
                chip_url=lambda obs: base + quote(obs.scene_id, safe="") + ".png",
                date=date,
                sensor=sensor,
                compare=compare,
                simulated=simulated or is_simulated(payload),
            )
        )

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(app.openapi()))

    @app.get("/static/{path:path}", include_in_schema=False)
    def static(path: str) -> FileResponse:
        return FileResponse(_static_file(path))


API_PREFIXES = ("/api/", "/openapi.json", "/static/")
"""Paths whose errors stay JSON whoever asks (the API, its schema, static files)."""


def _add_error_pages(app: FastAPI) -> None:
    """A browser asking for a page that does not exist gets an HTML 404 with a link home.

    Pages (not the API, its schema or static files) answer requests that accept
    ``text/html`` with an HTML page naming what was not found; the API keeps FastAPI's
    JSON ``{"detail": ...}`` errors.
    """
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(RequestValidationError)
    async def schema_errors(request: Request, exc: RequestValidationError) -> Response:
        """FastAPI's 422 with each offending input shortened to a 200-character ``repr``: the
        default echoed a 5 MB claim whole and failed (a bare 500) on a NaN or a lone
        surrogate, which JSON cannot carry. A write whose token is missing or wrong gets
        the 401/403 first (its body was parsed, and refused, before the token was checked)."""
        check = getattr(request.app.state, "check_token", None)
        if check is not None and request.method == "POST":
            try:
                check(request.headers.get("authorization"))
            except HTTPException as denied:
                return await http_exception_handler(request, denied)
        detail = []
        for error in exc.errors():
            item = {k: v for k, v in error.items() if k in ("type", "loc", "msg")}
            if "input" in error:
                shown = repr(error["input"])
                item["input"] = shown if len(shown) <= 200 else shown[:200] + "..."
            detail.append(item)
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(InputError)
    async def input_errors(request: Request, exc: InputError) -> Response:
        """A request the checks behind the schema refuse (a time in the future, an empty
        claim, ...): 422 naming it, as the schema's own errors do, never a bare 500."""
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def html_errors(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        wants_html = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 404 and wants_html and not path.startswith(API_PREFIXES):
            return HTMLResponse(_not_found_page(path, str(exc.detail)), status_code=404)
        return await http_exception_handler(request, exc)


def _not_found_page(path: str, detail: str) -> str:
    """The HTML 404 page: what was asked, why it is not here, and a link home."""
    if detail in {"Not Found", ""}:
        detail = "there is no page at this address"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Not found · basewatch</title>"
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:50rem;margin:3rem auto;"
        "padding:0 1.5rem;color:#1d2327}h1{font-size:1.6rem}code{background:#f4f6f8;"
        "padding:0 .3rem}</style></head><body>"
        "<h1>Not found</h1>"
        f"<p><code>{escape(path)}</code>: {escape(detail)}.</p>"
        "<p><a href='/' id='home'>← all watched sites</a> · <a href='/docs'>API</a></p>"
        "</body></html>"
    )


def _site_map(ctx: _Context, site: Site, posture: str) -> dict[str, Any]:
    """The site page's map: zones and detections over the latest clear chip of each zone,
    with the fronts and range rings the server was started with (report's map data)."""
    from basewatch.report.maps import site_map

    return site_map(
        site,
        ctx.store.observations(site_id=site.id),
        read_overlay=lambda zone, obs: ctx.overlay(site.id, zone, obs.scene_id),
        posture=posture,
        fronts=ctx.fronts,
        weapons=ctx.weapons,
    )


def _map_features(sites: list[Site], assessed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """GeoJSON of the site points and zone polygons for the overview map."""
    features: list[dict[str, Any]] = []
    for site in sites:
        href = "/sites/" + quote(site.id, safe="")
        for zone in site.zones:
            properties = {
                "role": "zone",
                "id": zone.id,
                "name": zone.name or zone.id,
                "site": site.id,
                "href": href,
            }
            features.append(
                {"type": "Feature", "geometry": mapping(zone.geometry), "properties": properties}
            )
        lon, lat = site.point
        properties = {
            "role": "site",
            "id": site.id,
            "name": site.name or site.id,
            "posture": (assessed.get(site.id) or {}).get("posture", "unknown"),
            "href": href,
        }
        point = {"type": "Point", "coordinates": [lon, lat]}
        features.append({"type": "Feature", "geometry": point, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def _with_fronts(collection: dict[str, Any], fronts: Sequence[Front]) -> dict[str, Any]:
    """The overview map's features plus the front lines (role ``front``), latest marked."""
    ordered = sorted(fronts, key=lambda f: f.date)
    extra = [
        {
            "type": "Feature",
            "geometry": mapping(feature.geometry),
            "properties": {
                "role": "front",
                "id": f"front-{front.date}-{feature.index}",
                "name": f"front {front.date or '(undated)'}",
                "latest": front is ordered[-1],
            },
        }
        for front in ordered
        for feature in front.features
    ]
    return {**collection, "features": collection["features"] + extra}


def _static_file(path: str) -> Path:
    """The file ``path`` inside :data:`STATIC_DIR`; 404 for anything outside it or missing."""
    root = STATIC_DIR.resolve()
    try:
        candidate = (root / path).resolve()
        found = candidate.is_relative_to(root) and candidate.is_file()
    except (ValueError, OSError):  # an embedded NUL byte, a name too long
        found = False
    if not found:
        raise HTTPException(status_code=404, detail=f"no static file {path!r}")
    return candidate


def _docs_page(schema: dict[str, Any]) -> str:
    """A plain HTML list of the API operations (no JavaScript, no CDN)."""
    rows = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method, operation in operations.items():
            rows.append(
                f"<tr><td><code>{escape(method.upper())}</code></td>"
                f"<td><code>{escape(path)}</code></td>"
                f"<td>{escape(str(operation.get('summary', '')))}</td></tr>"
            )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(schema['info']['title'])} API</title>"
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:auto;"
        "padding:1rem}td,th{text-align:left;padding:.2rem .6rem;border-bottom:1px solid #ddd}"
        "</style></head><body>"
        f"<h1>{escape(schema['info']['title'])} API {escape(schema['info']['version'])}</h1>"
        "<p>The full schema is at <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3); "
        "load it in any OpenAPI viewer. Writes need <code>Authorization: Bearer "
        f"&lt;token&gt;</code> (the server's <code>{TOKEN_ENV}</code>).</p>"
        "<table><thead><tr><th>method</th><th>path</th><th>what</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>"
    )


def serve(
    db: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    simulated: bool = False,
    fronts: Sequence[str | Path] = (),
    hostile: Sequence[str] = (),
    weapons: str | Path | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve the dashboard and API with uvicorn until interrupted.

    ``token`` defaults to the ``BASEWATCH_TOKEN`` environment variable; without one the
    server is read-only. ``fronts`` (GeoJSON files, one per date; ``hostile`` picks the
    controllers of areas) and ``weapons`` (YAML catalogue, default the bundled one) add
    fronts and range rings to the site maps. ``ready`` is called once they are read,
    just before the server starts (a bad front file fails first).
    """
    if not 0 < port < 65536:
        raise InputError(f"--port {port}: give a TCP port between 1 and 65535")
    import uvicorn

    from basewatch.context.threat import check_hostile, load_front, load_weapons
    from basewatch.report.maps import resolve_front

    loaded = [load_front(resolve_front(f), hostile=list(hostile)) for f in fronts]
    if hostile and loaded:
        check_hostile(loaded, hostile)
    app = create_app(
        db,
        token=token if token is not None else os.environ.get(TOKEN_ENV),
        simulated=simulated,
        fronts=loaded,
        weapons=load_weapons(weapons) if loaded else None,
    )
    if ready is not None:
        ready()
    uvicorn.run(app, host=host, port=port, log_level="info")
