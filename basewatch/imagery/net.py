"""Network settings shared by STAC requests (pystac-client) and COG reads (GDAL /vsicurl)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

RETRY_STATUS = (429, 500, 502, 503, 504)
"""HTTP statuses retried with exponential backoff (rate limit and server errors)."""


@dataclass(frozen=True, kw_only=True)
class NetworkParams:
    """Retries and timeouts for every HTTP request basewatch makes."""

    retries: int = 5
    """Retries after the first attempt, on timeouts, connection errors, 429 and 5xx."""
    backoff_s: float = 0.5
    """First retry delay in seconds; each further retry waits twice as long."""
    timeout_s: float = 30.0
    """Timeout of one request's read, in seconds."""
    connect_timeout_s: float = 5.0
    """Timeout of establishing one connection, in seconds: an unreachable host fails fast."""
    connect_retries: int = 1
    """Retries after a failed connection (refused, unreachable, DNS): few, since a host that
    does not answer twice in a row rarely answers a third time."""


DEFAULT_NETWORK = NetworkParams()
"""Settings used when none are given."""


def is_remote(href: str) -> bool:
    """Whether ``href`` is read over the network (http, https, s3, gs, az or /vsicurl)."""
    return href.startswith(("http://", "https://", "s3://", "gs://", "az://", "/vsi"))


def stac_io(net: NetworkParams = DEFAULT_NETWORK, **kwargs: Any) -> Any:
    """A pystac-client ``StacApiIO`` whose requests retry with exponential backoff.

    It reads local paths too, so it serves static catalogues and STAC APIs alike.
    """
    from pystac_client.stac_api_io import StacApiIO
    from urllib3.util.retry import Retry

    retry = Retry(
        total=net.retries,
        connect=net.connect_retries,
        read=net.retries,
        status=net.retries,
        backoff_factor=net.backoff_s,
        status_forcelist=RETRY_STATUS,
        allowed_methods=None,  # STAC /search may be a POST: retry it too
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    return StacApiIO(max_retries=retry, timeout=(net.connect_timeout_s, net.timeout_s), **kwargs)


_CAUSES = (
    (re.compile(r"connection refused", re.I), "connection refused"),
    (
        re.compile(
            r"name or service not known|temporary failure in name resolution|nodename nor "
            r"servname|getaddrinfo failed|no address associated|name resolution",
            re.I,
        ),
        "host name not found (DNS)",
    ),
    (re.compile(r"network is unreachable", re.I), "network unreachable"),
    (re.compile(r"no route to host", re.I), "no route to host"),
    (re.compile(r"connect(ion)? ?timeout|connect timed out", re.I), "connection timed out"),
    (re.compile(r"read timed out|timed out", re.I), "no answer in time (read timed out)"),
    (re.compile(r"certificate verify failed|ssl", re.I), "TLS/SSL error"),
    (re.compile(r"connection (reset|aborted)|remote ?disconnected", re.I), "connection dropped"),
)


def network_cause(exc: BaseException) -> str:
    """A short cause for a failed request (``connection refused``, ``host name not found
    (DNS)``, ...) instead of urllib3's long message; the first line of the message
    otherwise."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 8:
        texts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    joined = " | ".join(texts)
    for pattern, cause in _CAUSES:
        if pattern.search(joined):
            return cause
    first = " ".join(str(exc).split())
    return first if len(first) <= 160 else first[:157] + "..."


def gdal_options(net: NetworkParams = DEFAULT_NETWORK) -> dict[str, Any]:
    """GDAL configuration for COG reads over HTTP: retries, timeouts, no directory listings.

    GDAL doubles ``GDAL_HTTP_RETRY_DELAY`` after each failed attempt (exponential backoff).
    """
    return {
        "GDAL_HTTP_MAX_RETRY": net.retries,
        "GDAL_HTTP_RETRY_DELAY": net.backoff_s,
        "GDAL_HTTP_RETRY_CODES": ",".join(str(c) for c in RETRY_STATUS),
        "GDAL_HTTP_TIMEOUT": int(max(1, round(net.timeout_s))),
        "GDAL_HTTP_CONNECTTIMEOUT": int(max(1, round(net.connect_timeout_s))),
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MULTIRANGE": "YES",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    }
