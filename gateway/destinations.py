"""Where webhook URLs written through the proxy may point (the ``[server.destinations]`` table).

A provider POSTs events to whatever URL a webhook names, from inside its own network: a URL
pointing at ``127.0.0.1``, a private range or a cloud metadata address turns that delivery into
a request against someone's internal service. The proxy therefore checks every URL it is asked
to write (``url`` of a create or a change, and a failure-handling ``alert_endpoint``):

1. scheme: ``https`` only, unless ``allow_http``;
2. host: when ``allowed_hosts`` is set, the host must be one of them (``*.example.com`` matches
   any subdomain of example.com);
3. address: the host, or every address it resolves to, must not be loopback, private (RFC 1918,
   unique-local, carrier-grade NAT), link-local or a cloud metadata address, unless the matching
   ``allow_loopback`` / ``allow_private`` / ``allow_link_local`` is set; unspecified, multicast
   and reserved addresses are always refused. A name that does not resolve is refused unless
   ``allow_unresolvable`` (it cannot be checked now).

A refused URL is an ``InvalidRequest`` at its field path naming the rule that refused it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

import attrs
from yarl import URL

from gateway.errors import FieldProblem

__all__ = ["METADATA_ADDRESSES", "DestinationPolicy"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Awaitable[Sequence[str]]]

#: Instance-metadata services of the large clouds (AWS, GCP, Azure, Oracle; Alibaba; AWS IPv6).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


async def _resolve(host: str) -> Sequence[str]:
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout=5.0
    )
    return sorted({str(info[4][0]) for info in infos})


@attrs.frozen(kw_only=True)
class DestinationPolicy:
    """The rules for webhook destinations; the defaults are the strict ones."""

    allow_http: bool = False
    allowed_hosts: tuple[str, ...] = ()
    allow_loopback: bool = False
    allow_private: bool = False
    allow_link_local: bool = False
    allow_unresolvable: bool = False

    async def problems(
        self, url: str, path: str, *, resolve: Resolver = _resolve
    ) -> list[FieldProblem]:
        """What is wrong with ``url`` as a destination (empty when it is allowed)."""
        parsed = URL(url)
        if parsed.scheme != "https" and not (self.allow_http and parsed.scheme == "http"):
            return [FieldProblem(path, "refused by policy: only https:// destinations are allowed")]
        host = (parsed.host or "").rstrip(".").lower()
        if self.allowed_hosts and not any(_host_matches(host, p) for p in self.allowed_hosts):
            return [
                FieldProblem(
                    path,
                    f"refused by policy: host {host} is not in the allowed hosts "
                    f"({', '.join(self.allowed_hosts)})",
                )
            ]
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = [ipaddress.ip_address(a.split("%")[0]) for a in await resolve(host)]
            except (OSError, TimeoutError, ValueError):
                addresses = []
            if not addresses:
                if self.allow_unresolvable:
                    return []
                return [FieldProblem(path, f"refused by policy: host {host} does not resolve")]
        for address in addresses:
            reason = self._refusal(address)
            if reason:
                shown = host if str(address) == host else f"{host} ({address})"
                return [FieldProblem(path, f"refused by policy: {shown} is {reason}")]
        return []

    def _refusal(self, address: IPAddress) -> str | None:
        embedded = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        if embedded is not None:
            reason = self._refusal(embedded)
            return f"{reason}, {embedded}, embedded in an IPv6 form" if reason else None
        if address in METADATA_ADDRESSES:
            return None if self.allow_link_local else "a cloud metadata address"
        if address.is_loopback:
            return None if self.allow_loopback else "a loopback address"
        if address.is_link_local:
            return None if self.allow_link_local else "a link-local address"
        if address.is_unspecified or address.is_multicast or address.is_reserved:
            return "not a routable unicast address"
        if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT):
            return None if self.allow_private else "a private address"
        return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries and reaches, if it is one of those forms:
    IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), NAT64
    (``64:ff9b::/96``), 6to4 (``2002::/16``) and Teredo (``2001::/32``, the client address)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern
