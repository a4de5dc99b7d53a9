"""Where a webhook may be sent (R178, R200): pure checks of an endpoint's URL and of every
address its host resolves to. The sender resolves the host at every attempt (off the event
loop), refuses the attempt if any address is not allowed, and connects to the address it
checked (TLS still verified against the host name), so a name that re-resolves to a private
address between the check and the connection (DNS rebinding) gains nothing.

An address is allowed only if it is global once unwrapped: IPv4-mapped, 6to4, Teredo and
NAT64 addresses carry an IPv4 address that is checked instead; loopback, private, shared
(100.64.0.0/10), link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254 included),
multicast, reserved and unspecified addresses are refused. Two settings open the door for
tests and private deployments: an exact allow-list of ``host:port`` pairs, and a switch that
allows every private destination.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: always refused, whatever the standard library thinks of them
DENIED = tuple(
    ipaddress.ip_network(block)
    for block in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "64:ff9b:1::/48",  # NAT64 for local use
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class Destination:
    """A checked endpoint URL: its scheme, host (lower case, without brackets) and port."""

    url: str
    scheme: str
    host: str
    port: int

    @property
    def host_port(self) -> str:
        """``host:port`` as the allow-list names it."""
        return f"{self.host}:{self.port}"


def unwrapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64), or the
    address itself.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_problem(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to ``address``, or None when it is a global address."""
    if any(address in block for block in DENIED if block.version == address.version):
        return f"{address} is not a public address"
    inner = unwrapped(address)  # a wrapped address is judged by the address it carries
    if (
        any(inner in block for block in DENIED if block.version == inner.version)
        or inner.is_loopback
        or inner.is_private
        or inner.is_link_local
        or inner.is_multicast
        or inner.is_reserved
        or inner.is_unspecified
        or not inner.is_global
    ):
        return f"{address} is not a public address"
    return None


def url_problem(url: str, *, allow_http: bool) -> str | None:
    """Why ``url`` cannot be a webhook endpoint, or None (the addresses are checked at each
    attempt, see ``resolved_problem``).
    """
    if len(url) > MAX_URL_LENGTH:
        return f"The URL is longer than {MAX_URL_LENGTH} characters."
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        return "The URL may not contain spaces or control characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "The URL's port must be a number from 1 to 65535."
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        allowed = "https:// or http://" if allow_http else "https://"
        return f"The URL must start with {allowed}."
    if not parts.hostname:
        return "The URL has no host."
    if parts.username is not None or parts.password is not None:
        return "The URL may not contain a user name or password."
    if port is not None and not 1 <= port <= 65535:
        return "The URL's port must be a number from 1 to 65535."
    return None


def destination(url: str) -> Destination:
    """The scheme, host and port of a URL ``url_problem`` accepted."""
    parts: SplitResult = urlsplit(url)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Destination(url, parts.scheme, parts.hostname.lower(), port)


def resolved_problem(
    target: Destination,
    addresses: Sequence[str],
    *,
    allow_private: bool,
    allow_hosts: Collection[str],
) -> str | None:
    """Why a delivery may not connect to ``target`` whose host resolved to ``addresses``, or
    None. Every address must be allowed, not just the one connected to.
    """
    if not addresses:
        return f"{target.host} does not resolve to any address."
    if allow_private or target.host_port in allow_hosts:
        return None
    for text in addresses:
        problem = address_problem(ipaddress.ip_address(text.split("%", 1)[0]))
        if problem is not None:
            return f"{target.host} resolves to {problem}."
    return None
