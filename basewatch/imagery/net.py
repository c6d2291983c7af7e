"""Network settings shared by STAC requests (pystac-client) and COG reads (GDAL /vsicurl)."""

from __future__ import annotations

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
    """Timeout of one request (connect and read), in seconds."""


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
        connect=net.retries,
        read=net.retries,
        status=net.retries,
        backoff_factor=net.backoff_s,
        status_forcelist=RETRY_STATUS,
        allowed_methods=None,  # STAC /search may be a POST: retry it too
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    return StacApiIO(max_retries=retry, timeout=net.timeout_s, **kwargs)


def gdal_options(net: NetworkParams = DEFAULT_NETWORK) -> dict[str, Any]:
    """GDAL configuration for COG reads over HTTP: retries, timeouts, no directory listings.

    GDAL doubles ``GDAL_HTTP_RETRY_DELAY`` after each failed attempt (exponential backoff).
    """
    return {
        "GDAL_HTTP_MAX_RETRY": net.retries,
        "GDAL_HTTP_RETRY_DELAY": net.backoff_s,
        "GDAL_HTTP_RETRY_CODES": ",".join(str(c) for c in RETRY_STATUS),
        "GDAL_HTTP_TIMEOUT": int(max(1, round(net.timeout_s))),
        "GDAL_HTTP_CONNECTTIMEOUT": int(max(1, round(net.timeout_s))),
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MULTIRANGE": "YES",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    }
