"""POSTing JSON to a notification target, through the SSRF guard.

The target's host is resolved and checked (`app/alerts/ssrf.py`) in a worker thread,
then the request goes to the checked address with the original `Host` header (and, for
https, the original name for SNI and certificate checks), so what was checked is what is
connected to. Redirects are not followed. Any answer but 2xx, a timeout or a refused
connection raises `DeliveryError` with a short reason, which the delivery record keeps.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import anyio.to_thread
import httpx

from app.alerts.ssrf import TargetRefused, resolve_target

__all__ = ["DeliveryError", "post_json"]

USER_AGENT = "Beacon-Alerts/1"


class DeliveryError(RuntimeError):
    """A notification was not delivered; the message says why."""


def _pinned(url: httpx.URL, address: str) -> httpx.URL:
    try:
        ipaddress.ip_address(url.host)
        return url  # already an address
    except ValueError:
        return url.copy_with(host=address)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    allow_private: bool,
    seconds: float,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise DeliveryError(f"bad URL: {exc}") from None
    try:
        address = await anyio.to_thread.run_sync(
            lambda: resolve_target(url, allow_private=allow_private)
        )
    except TargetRefused as exc:
        raise DeliveryError(f"refused: {exc}") from None
    assert address is not None
    host_header = parsed.netloc.decode("ascii").rsplit("@", 1)[-1]
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    try:
        response = await client.post(
            _pinned(parsed, address),
            content=body,
            headers={
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "host": host_header,
                **(headers or {}),
            },
            timeout=seconds,
            follow_redirects=False,
            extensions=extensions,
        )
    except httpx.TimeoutException:
        raise DeliveryError(f"no answer within {seconds:g}s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")
    return response
