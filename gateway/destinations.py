"""Where webhook URLs may point (the ``[destinations]`` table; ``[server.destinations]`` is read
too, as before).

A provider POSTs events to whatever URL a webhook names, from inside its own network: a URL
pointing at ``127.0.0.1``, a private range or a cloud metadata address turns that delivery into
a request against someone's internal service. The ``Gateway`` therefore checks every URL it is
asked to write, on every path (the library's ``Account.create``/``update``, the proxy, the
command line, ``plan``/``apply``): ``url`` of a create or a change, and a failure handling's
``alert_endpoint.url``. A library user who wants no such check says so explicitly
(``DestinationPolicy.permissive()``).

0. spelling: the host is read as a WHATWG URL parser (browsers, Node, many HTTP stacks) reads
   it. Percent-encoding in a host (``%31%36%39.254.169.254``) and IPv4 addresses spelled other
   than as four decimal numbers (``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376``,
   ``169.254.43518``) are refused outright, whatever else the policy allows: another parser
   may read them as another host than ours. Unicode hosts are checked in their IDNA form.
1. scheme: ``https`` only, unless ``allow_http``;
2. host: when ``allowed_hosts`` is set, the host must be one of them (``*.example.com`` matches
   any subdomain of example.com);
3. address: the host, or every address it resolves to, must not be loopback, private (RFC 1918,
   unique-local, carrier-grade NAT), link-local or a cloud metadata address, unless the matching
   ``allow_loopback`` / ``allow_private`` / ``allow_link_local`` is set; unspecified, multicast
   and reserved addresses are always refused. A name that does not resolve is refused unless
   ``allow_unresolvable`` (it cannot be checked now).

A refused URL is an ``InvalidRequest`` at its field path naming the rule that refused it.

Written by hand: no maintained library applies WHATWG's host parsing (percent-decoding, IDNA
mapping, its IPv4 number forms) for a policy check; ``idna`` does the IDNA part.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
import unicodedata
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import idna
from yarl import URL

from gateway.errors import FieldProblem, InvalidRequest
from gateway.model import FailureHandling, WebhookChange, WebhookSpec

__all__ = [
    "METADATA_ADDRESSES",
    "DestinationPolicy",
    "canonical_host",
    "destination_urls",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Awaitable[Sequence[str]]]

#: Instance-metadata services of the large clouds (AWS, GCP, Azure, Oracle; Alibaba; AWS IPv6).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


#: How long a name's addresses (or its failure to resolve) are kept: a manifest or a burst of
#: creates names the same few hosts many times, and a name that does not resolve can take a
#: resolver's whole timeout each time. The check is of the moment a URL is written anyway.
RESOLVE_TTL = 30.0
_answers: dict[str, tuple[float, Sequence[str] | OSError]] = {}


async def _resolve(host: str) -> Sequence[str]:
    now = time.monotonic()
    kept = _answers.get(host)
    if kept is not None and kept[0] > now:
        if isinstance(kept[1], OSError):
            raise kept[1]
        return kept[1]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout=5.0
        )
    except (OSError, TimeoutError) as exc:
        failure = exc if isinstance(exc, OSError) else OSError(f"{host}: no answer in 5 s")
        _keep(host, now, failure)
        raise failure from None
    addresses = sorted({str(info[4][0]) for info in infos})
    _keep(host, now, addresses)
    return addresses


def _keep(host: str, now: float, answer: Sequence[str] | OSError) -> None:
    if len(_answers) >= 4096:
        _answers.clear()
    _answers[host] = (now + RESOLVE_TTL, answer)


@attrs.frozen(kw_only=True)
class DestinationPolicy:
    """The rules for webhook destinations; the defaults are the strict ones."""

    allow_http: bool = False
    allowed_hosts: tuple[str, ...] = ()
    allow_loopback: bool = False
    allow_private: bool = False
    allow_link_local: bool = False
    allow_unresolvable: bool = False

    @classmethod
    def permissive(cls) -> DestinationPolicy:
        """Every destination the spelling rule lets through (http, loopback, private and
        link-local addresses, names that do not resolve): for a library user who checks URLs
        elsewhere, said explicitly."""
        return cls(allow_http=True, allow_loopback=True, allow_private=True,
                   allow_link_local=True, allow_unresolvable=True)  # fmt: skip

    async def check(self, thing: WebhookSpec | WebhookChange, *, resolve: Resolver = _resolve,
                    prefix: str = "") -> None:  # fmt: skip
        """``InvalidRequest`` listing each destination of ``thing`` the policy refuses."""
        problems = await self.problems_of(thing, resolve=resolve, prefix=prefix)
        if problems:
            raise InvalidRequest(problems=problems)

    async def problems_of(
        self, thing: WebhookSpec | WebhookChange, *, resolve: Resolver = _resolve, prefix: str = ""
    ) -> list[FieldProblem]:
        """A problem for each destination of ``thing`` the policy refuses."""
        problems: list[FieldProblem] = []
        for path, url in destination_urls(thing):
            problems += await self.problems(url, f"{prefix}{path}", resolve=resolve)
        return problems

    async def problems(
        self, url: str, path: str, *, resolve: Resolver = _resolve
    ) -> list[FieldProblem]:
        """What is wrong with ``url`` as a destination (empty when it is allowed)."""
        try:
            parsed = URL(url)
        except ValueError:
            return [FieldProblem(path, "is not a valid URL")]
        if parsed.scheme != "https" and not (self.allow_http and parsed.scheme == "http"):
            return [FieldProblem(path, "refused by policy: only https:// destinations are allowed")]
        host, spelling = canonical_host(parsed.raw_host or "")
        if spelling is not None:
            return [FieldProblem(path, f"refused: {spelling}")]
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


def destination_urls(thing: WebhookSpec | WebhookChange) -> list[tuple[str, str]]:
    """``(field path, URL)`` of every destination ``thing`` writes: its ``url`` and its failure
    handling's alert endpoint."""
    found: list[tuple[str, str]] = []
    if isinstance(thing.url, str):
        found.append(("url", thing.url))
    handling: Any = thing.failure_handling
    if isinstance(handling, FailureHandling) and handling.alert_endpoint is not None:
        found.append(("failure_handling.alert_endpoint.url", handling.alert_endpoint.url))
    return found


#: Dots a WHATWG parser (through IDNA's mapping) reads as ``.``.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_FORBIDDEN = set(" #%/:<>?@[\\]^|")
_IPV4_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def canonical_host(raw: str) -> tuple[str, str | None]:
    """``(host, problem)``: the host as a WHATWG URL parser reads it, lower-case, without a
    trailing dot, IDNA-encoded; ``problem`` says why its spelling is refused (None when it is
    written as it reads: a name, four decimal numbers, or an IPv6 address)."""
    host = raw.lower()
    if host.startswith("[") or ":" in host:  # IPv6: yarl has parsed and compressed it
        return host.strip("[]"), None
    if "%" in host:
        decoded = urllib.parse.unquote(host, errors="replace")
        return decoded, (
            f"the host {raw[:80]} is percent-encoded (a browser reads it as {decoded[:80]}): "
            "write the host itself"
        )
    mapped = unicodedata.normalize("NFKC", host.translate(_DOTS))
    if not mapped.isascii():
        try:
            mapped = idna.encode(mapped, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            return mapped, f"the host {raw[:80]} is not a valid name ({exc})"
    if _FORBIDDEN & set(mapped):
        return mapped, f"the host {raw[:80]} holds characters no host may"
    bare = mapped.rstrip(".")
    labels = bare.split(".")
    last = labels[-1] if labels else ""
    if last.isdigit() or re.fullmatch(r"0[xX][0-9a-fA-F]*", last):  # WHATWG: ends in a number
        address = _whatwg_ipv4(labels)
        if address is None:
            return bare, f"the host {raw[:80]} is not a valid IPv4 address as browsers read it"
        if address != bare:
            return address, (
                f"the host {raw[:80]} is the IPv4 address {address} written another way: "
                f"write {address}"
            )
    return bare, None


def _whatwg_ipv4(parts: list[str]) -> str | None:
    """The dotted address of a WHATWG IPv4 host (decimal, ``0x`` hex and ``0`` octal parts,
    one to four of them, the last filling the bytes left), or None if it is not one."""
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.match(p) for p in parts):
        return None
    numbers = []
    for part in parts:
        if part[:2] in ("0x", "0X"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part[0] == "0":
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    *head, tail = numbers
    if any(n > 255 for n in head) or tail >= 256 ** (5 - len(numbers)):
        return None
    value = tail + sum(n << (8 * (3 - i)) for i, n in enumerate(head))
    return str(ipaddress.IPv4Address(value))


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern
