"""Where a webhook may go: the URL rules and the address check (server-side request
forgery).

An admin types a URL; the desk's workers then POST to it from inside the network. Left
alone, ``http://169.254.169.254/`` (a cloud's metadata service), ``http://localhost:6379``
or a name that resolves to ``10.0.0.5`` would make the desk a proxy into its own network.
So, unless ``WEBHOOKS_ALLOW_PRIVATE_TARGETS`` is true:

- at save time, a URL whose host is a literal non-public address is refused;
- at delivery time the worker resolves the name itself, refuses when *any* address is
  non-public, and connects to the address it checked (``webhooks.delivery`` puts the
  address in the URL and the name in the Host header and TLS SNI/certificate check), so
  a DNS answer that changes between the check and the connection (DNS rebinding) cannot
  swap in another address;
- redirects are never followed (a public receiver could redirect to a private one).

"Non-public" is anything but a global unicast address: private, loopback, link-local,
shared (100.64/10), multicast, reserved, unspecified, documentation ranges, for IPv4 and
IPv6, including IPv4 written as IPv6 (``::ffff:127.0.0.1``, NAT64 ``64:ff9b::/96``).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(Exception):  # noqa: N818 -- the reason is the message
    """A URL or address the desk will not send to."""


def private_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_TARGETS", False))


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return None


def is_public(address: IPAddress) -> bool:
    inner = embedded_ipv4(address)
    if inner is not None:  # an IPv4 address written as IPv6 is judged as itself
        return is_public(inner)
    return bool(
        address.is_global
        and not (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        )
    )


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (a name, or an address without brackets)
    port: int
    path: str  # path and query


def parse_url(url: str) -> Target:
    """The URL's parts, or ``ValidationError`` for what no endpoint may be."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise ValidationError({"url": f"Not a valid URL: {error}."}) from error
    if parts.scheme not in ("http", "https"):
        raise ValidationError({"url": "Use an http:// or https:// URL."})
    if not parts.hostname:
        raise ValidationError({"url": "The URL has no host."})
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            {"url": "Put no user name or password in the URL: the signature authenticates."}
        )
    if parts.fragment:
        raise ValidationError({"url": "The URL cannot have a #fragment."})
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "https" else 80),
        path=path,
    )


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def validate_url(url: str) -> Target:
    """The check at save time: the URL's shape, and no literal non-public address."""
    target = parse_url(url)
    address = literal_address(target.host)
    if address is not None and not private_allowed() and not is_public(address):
        raise ValidationError(
            {"url": f"{address} is not a public address: webhooks only go to the internet."}
        )
    if target.host.lower() in ("localhost", "localhost.localdomain") and not private_allowed():
        raise ValidationError({"url": "localhost is not a public address."})
    return target


def resolve(target: Target) -> IPAddress:
    """The address to connect to, checked (``TargetRefused`` says why not)."""
    address = literal_address(target.host)
    if address is not None:
        addresses = [address]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise TargetRefused(f"{target.host} does not resolve: {error}.") from error
        # sockaddr[0] of an IPv6 address may carry a zone ("fe80::1%eth0"): drop it.
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise TargetRefused(f"{target.host} does not resolve.")
    if not private_allowed():
        for candidate in addresses:
            if not is_public(candidate):
                raise TargetRefused(
                    f"{target.host} resolves to {candidate}, which is not a public address."
                )
    return addresses[0]
