"""Refuse to fetch URLs that lead into our own network (SSRF guard).

Users supply URLs: generic provider endpoints, OAuth token URLs, websites to crawl. Without a
guard, "http://169.254.169.254/latest/meta-data/" as a provider base URL would hand the cloud
metadata service (or the Redis on localhost) to whoever can edit a provider. So before any
request we resolve the host and refuse private, loopback, link-local, multicast, reserved,
unspecified and other non-global addresses, IPv4 and IPv6 alike, including IPv4 addresses
smuggled inside IPv6 (``::ffff:127.0.0.1``, NAT64, 6to4, Teredo). Only ``http`` and ``https``
are allowed.

``ENRICH_ALLOW_PRIVATE_NETWORKS`` turns the address check off (tests reach loopback servers,
some deployments call an internal API on purpose). The scheme check always applies.

A check before connecting leaves a window in which DNS can change its answer (rebinding), so
:class:`providers.http.HttpTransport` also checks the address it actually connected to
with :func:`check_ip`.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from providers.errors import ClientError, TemporaryError

ALLOWED_SCHEMES = frozenset({"http", "https"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def allow_private_default() -> bool:
    """The ``ENRICH_ALLOW_PRIVATE_NETWORKS`` setting (False when Django is not configured)."""
    try:
        from django.conf import settings

        return bool(getattr(settings, "ENRICH_ALLOW_PRIVATE_NETWORKS", False))
    except Exception:  # noqa: BLE001 - settings not configured: the safe answer is "no".
        return False


def is_public_ip(address: str | IPAddress) -> bool:
    """True when ``address`` is a globally routable unicast address."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # Judge an embedded IPv4 address by IPv4 rules: Python 3.11 before 3.11.8 calls
        # ::ffff:127.0.0.1 "global", and NAT64/6to4/Teredo can reach any IPv4 host.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_ip(embedded)
        if ip.is_site_local:
            return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_ip(address: str, *, host: str | None = None) -> None:
    """``ClientError("blocked_address")`` unless ``address`` is public."""
    # Zone ids ("fe80::1%eth0") come back from getaddrinfo/getpeername for link-local peers.
    bare = address.split("%", 1)[0]
    if not is_public_ip(bare):
        where = f"{host} resolves to" if host and host != bare else "address"
        raise ClientError("blocked_address", f"{where} {bare}, which is not a public address")


def resolve(host: str, port: int | None) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself, without DNS)."""
    literal = host.strip("[]")
    try:
        return [str(ipaddress.ip_address(literal.split("%", 1)[0]))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 0, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise TemporaryError(
            "network", f"could not resolve {host}: {exc.strerror or exc}"
        ) from None
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, allow_private: bool | None = None) -> None:
    """Refuse ``url`` unless it is http(s) to a public address (or private ones are allowed).

    Raises ``ClientError("blocked_address")``; ``TemporaryError("network")`` if the host does
    not resolve.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ClientError("blocked_address", "the URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise ClientError(
            "blocked_address", f"only http and https URLs are allowed, not {scheme!r}"
        )
    host = parts.hostname
    if not host:
        raise ClientError("blocked_address", "the URL has no host")
    if allow_private is None:
        allow_private = allow_private_default()
    if allow_private:
        return
    for address in resolve(host, port or (443 if scheme == "https" else 80)):
        check_ip(address, host=host)
