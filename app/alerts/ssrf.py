"""Server-side request forgery guard for notification targets.

A rule's webhook, Slack or Alertmanager URL is chosen by whoever holds a site's API
token, and Beacon then POSTs to it from inside its own network. Unless
`BEACON_ALERTS_ALLOW_PRIVATE=1`, a target whose host is, or resolves to, a loopback,
private, link-local, multicast, reserved or unspecified address is refused — when the
rule is saved (a 400 naming the channel), and again before every delivery, which then
connects to the address that was checked (`resolve_target`), so a name that resolves
elsewhere between the check and the connection (DNS rebinding) cannot slip through.

Limits: a name that does not resolve when the rule is saved is accepted (it may resolve
later; each delivery checks it again); redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["TargetRefused", "forbidden_address", "resolve_target"]


class TargetRefused(ValueError):
    """The target's address is not one Beacon may send to."""


def forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _addresses(host: str, port: int) -> list[str]:
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def resolve_target(url: str, *, allow_private: bool, strict: bool = True) -> str | None:
    """The address to connect to for `url` (the first one resolved), after checking every
    address the host resolves to. Raises `TargetRefused` for a forbidden one; for a name
    that does not resolve, raises too when `strict`, else returns None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").strip("[]")
    if not host:
        raise TargetRefused(f"{url!r} has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = _addresses(host, port)
    except (OSError, UnicodeError) as exc:
        if strict:
            raise TargetRefused(f"{host!r} does not resolve: {exc}") from None
        return None
    if not addresses:
        if strict:
            raise TargetRefused(f"{host!r} does not resolve")
        return None
    if not allow_private:
        for address in addresses:
            if forbidden_address(address):
                raise TargetRefused(
                    f"{host!r} is or resolves to {address}, a loopback, private or reserved "
                    "address (set BEACON_ALERTS_ALLOW_PRIVATE=1 to allow it)"
                )
    return addresses[0]
