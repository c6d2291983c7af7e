"""Loopback servers for tests and benchmarks: files over HTTP (with byte ranges and injected
faults) and a minimal STAC API (landing page, conformance, ``/search``).

Both bind 127.0.0.1 on a free port, run in a daemon thread and count what they serve.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CONFORMANCE = (
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/conf/1.0/core",
    "http://www.opengis.net/spec/ogcapi-features-1/conf/1.0/geojson",
)
"""Conformance classes the test STAC API claims."""

FAULT_KINDS = ("status", "drop", "hang")
"""Ways an injected failure fails (see :attr:`Faults.kind`)."""

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class ServerStats:
    """What a loopback server did (updated under a lock by the serving threads)."""

    requests: int = 0
    """Requests received (including failed ones)."""
    failed: int = 0
    """Requests answered with an injected error."""
    bytes_sent: int = 0
    """Body bytes sent."""
    paths: list[str] = field(default_factory=list)
    """Path of every request, in order."""
    per_path: dict[str, int] = field(default_factory=dict)
    """Requests received per path."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Guards the counters."""


@dataclass
class Faults:
    """Errors a loopback server injects (changeable while it runs)."""

    fail_every: int = 0
    """Answer the 1st, (n+1)-th, (2n+1)-th... request *of each path* with ``status`` (2 = half
    of them; 0 = never). Counted per path, so that a client's retry of a failed request is
    answered whatever other threads request in between (a server-wide count let two
    reading threads in lockstep take every failure of one of them)."""
    fail_all: bool = False
    """Answer every request with ``status``."""
    status: int = 503
    """HTTP status of injected failures."""
    only: str = ""
    """Inject failures only into requests whose path contains this text (e.g. ``.tif``)."""
    kind: str = "status"
    """How an injected failure fails: ``status`` (answer ``status``), ``drop`` (close the
    connection without an answer) or ``hang`` (say nothing for ``hang_s``, then close)."""
    hang_s: float = 3.0
    """How long a ``hang`` failure keeps the client waiting (longer than its timeout)."""


class _Handler(BaseHTTPRequestHandler):
    root: Path
    stats: ServerStats
    faults: Faults
    items: list[dict[str, Any]]
    stac: bool

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep tests quiet
        return

    def _inject_fault(self) -> bool:
        with self.stats.lock:
            self.stats.requests += 1
            self.stats.paths.append(self.path)
            n = self.stats.per_path.get(self.path, 0)
            self.stats.per_path[self.path] = n + 1
            fail = self.faults.only in self.path and (
                self.faults.fail_all
                or (self.faults.fail_every > 0 and n % self.faults.fail_every == 0)
            )
            if fail:
                self.stats.failed += 1
        if fail:
            self._fail()
        return fail

    def _fail(self) -> None:
        """Fail this request the way ``faults.kind`` says."""
        if self.faults.kind not in FAULT_KINDS:
            raise ValueError(f"Faults.kind is {self.faults.kind!r}; use one of {FAULT_KINDS}")
        if self.faults.kind == "status":
            self.send_response(self.faults.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.faults.kind == "hang":
            time.sleep(self.faults.hang_s)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            with self.stats.lock:
                self.stats.bytes_sent += len(body)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server API
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self._inject_fault():
            return
        url = urlsplit(self.path)
        if self.stac:
            self._stac(url.path, {k: v[-1] for k, v in parse_qs(url.query).items()})
            return
        self._file(url.path)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        if self._inject_fault():
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self._stac(urlsplit(self.path).path, body)

    def _file(self, path: str) -> None:
        target = (self.root / path.lstrip("/")).resolve()
        if self.root not in target.parents or not target.is_file():
            self._send(404, b"not found", "text/plain")
            return
        size = target.stat().st_size
        ctype = "application/json" if target.suffix == ".json" else "image/tiff"
        m = _RANGE.match(self.headers.get("Range", "").strip())
        if not m:
            self._send_whole(target, size, ctype)
            return
        first = int(m.group(1)) if m.group(1) else max(0, size - int(m.group(2)))
        last = int(m.group(2)) if m.group(1) and m.group(2) else size - 1
        last = min(last, size - 1)
        if first >= size:
            self._send(416, b"", ctype, {"Content-Range": f"bytes */{size}"})
            return
        with target.open("rb") as f:  # read only the range asked for
            f.seek(first)
            body = f.read(last - first + 1)
        self._send(206, body, ctype, {"Content-Range": f"bytes {first}-{last}/{size}"})

    def _send_whole(self, target: Path, size: int, ctype: str) -> None:
        """Answer a request without a Range header: headers only for HEAD, else the file
        in 1 MiB pieces (a client that stops reading closes the socket; we stop too)."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "HEAD":
            return
        with target.open("rb") as f:
            while chunk := f.read(1 << 20):
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                with self.stats.lock:
                    self.stats.bytes_sent += len(chunk)

    def _base(self) -> str:
        address: Any = self.server.server_address
        return f"http://127.0.0.1:{address[1]}"

    def _stac(self, path: str, query: dict[str, Any]) -> None:
        base = self._base()
        if path in ("", "/"):
            body: dict[str, Any] = {
                "type": "Catalog",
                "stac_version": "1.0.0",
                "id": "loopback",
                "description": "basewatch test STAC API",
                "conformsTo": list(CONFORMANCE),
                "links": [
                    {"rel": "self", "href": f"{base}/", "type": "application/json"},
                    {"rel": "root", "href": f"{base}/", "type": "application/json"},
                    {"rel": "conformance", "href": f"{base}/conformance"},
                    {
                        "rel": "search",
                        "href": f"{base}/search",
                        "type": "application/geo+json",
                        "method": "GET",
                    },
                    {
                        "rel": "search",
                        "href": f"{base}/search",
                        "type": "application/geo+json",
                        "method": "POST",
                    },
                ],
            }
        elif path == "/conformance":
            body = {"conformsTo": list(CONFORMANCE)}
        elif path == "/search":
            found = [i for i in self.items if _matches(i, query)]
            body = {"type": "FeatureCollection", "features": found, "links": []}
        else:
            self._send(404, b"{}", "application/json")
            return
        self._send(200, json.dumps(body).encode(), "application/json")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split(",")
    return list(value)


def _time(text: str) -> datetime | None:
    if text in ("", ".."):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _matches(item: dict[str, Any], query: dict[str, Any]) -> bool:
    bbox = [float(v) for v in _as_list(query.get("bbox"))]
    if bbox:
        w, s, e, n = item["bbox"][:4]
        if bbox[2] < w or bbox[0] > e or bbox[3] < s or bbox[1] > n:
            return False
    collections = _as_list(query.get("collections"))
    if collections and item.get("collection") not in collections:
        return False
    interval = query.get("datetime")
    if interval:
        lo, _, hi = str(interval).partition("/")
        when = _time(item["properties"]["datetime"])
        start, end = _time(lo), _time(hi or lo)
        if when is None or (start and when < start) or (end and when > end):
            return False
    return True


@contextmanager
def _serve(handler: type[_Handler], **attrs: Any) -> Iterator[tuple[str, ServerStats, Faults]]:
    stats, faults = ServerStats(), attrs.pop("faults", None) or Faults()
    cls = type("Handler", (handler,), {**attrs, "stats": stats, "faults": faults})
    server = ThreadingHTTPServer(("127.0.0.1", 0), cls)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield f"http://127.0.0.1:{port}", stats, faults
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_directory(
    root: str | Path, *, faults: Faults | None = None
) -> Iterator[tuple[str, ServerStats, Faults]]:
    """Serve the files under ``root`` over HTTP (byte ranges supported).

    Yields ``(base_url, stats, faults)``; change ``faults`` to inject errors.
    """
    with _serve(_Handler, root=Path(root).resolve(), items=[], stac=False, faults=faults) as s:
        yield s


@contextmanager
def serve_stac_api(
    items: Sequence[dict[str, Any]], *, faults: Faults | None = None
) -> Iterator[tuple[str, ServerStats, Faults]]:
    """Serve a minimal STAC API over ``items`` (STAC item dicts with absolute asset hrefs).

    ``/search`` filters by ``bbox``, ``datetime`` and ``collections`` (GET or POST) and
    returns every match in one page.
    """
    with _serve(_Handler, root=Path("."), items=list(items), stac=True, faults=faults) as s:
        yield s
