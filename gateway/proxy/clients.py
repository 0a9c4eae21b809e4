"""Who is on the other end of a request: its address and scheme as trusted proxies report
them, and a throttle on the wrong API keys an address presents.

Behind a TLS-terminating reverse proxy the gateway sees the proxy's address and plain http.
``X-Forwarded-For``/``X-Forwarded-Proto`` (or RFC 7239 ``Forwarded``) say what the proxy saw,
but anyone can send them: they are believed only from ``[server] trusted_proxies``. A
``[server] public_url`` that is https settles the scheme whatever the hop said.

``FailedKeys`` counts wrong keys per client address in a sliding minute: beyond
``max_failed_keys_per_minute`` every attempt from the address is refused (429 with
``Retry-After``) until the minute frees one, so guessing runs at a few keys a minute instead of
hundreds a second. Each replica counts its own (a guesser spread over N replicas gets N times
the budget; still a few a minute). Written by hand: aiohttp has neither, and aiohttp-remotes'
one-proxy-hop model does not fit a list of networks.
"""

from __future__ import annotations

import collections
import ipaddress
import time

from aiohttp import web

from gateway.config import ServerConfig

__all__ = ["Clients", "FailedKeys", "retry_after"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Clients:
    """What ``[server]`` says about the hops in front of the gateway."""

    def __init__(self, server: ServerConfig) -> None:
        self._trusted: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in server.trusted_proxies
        )
        self._https = (server.public_url or "").lower().startswith("https://")

    def trusted(self, address: str | None) -> bool:
        """Whether ``address`` is one of the configured reverse proxies."""
        if not self._trusted or not address:
            return False
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def address(self, request: web.Request) -> str:
        """The client's address: the nearest hop that is not a trusted proxy."""
        remote = request.remote or ""
        if not self.trusted(remote):
            return remote
        for hop in reversed(_forwarded_for(request)):
            if not self.trusted(hop):
                return hop
        return remote

    def https(self, request: web.Request) -> bool:
        """Whether the client reached the gateway over https."""
        if self._https or request.secure:
            return True
        if not self.trusted(request.remote):
            return False
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if not proto:
            proto = _forwarded_param(request.headers.get("Forwarded", ""), "proto")
        return proto == "https"


def _forwarded_for(request: web.Request) -> list[str]:
    """The hops ``X-Forwarded-For`` (or ``Forwarded: for=``) lists, nearest last."""
    listed = request.headers.getall("X-Forwarded-For", [])
    hops = [h.strip() for value in listed for h in value.split(",") if h.strip()]
    if hops:
        return hops
    forwarded = request.headers.getall("Forwarded", [])
    found = []
    for value in forwarded:
        for element in value.split(","):
            hop = _forwarded_param(element, "for")
            if hop:
                found.append(hop.strip("[]").rsplit("]:", 1)[0] if hop.startswith("[") else hop)
    return found


def _forwarded_param(element: str, name: str) -> str:
    """The value of ``name`` in one RFC 7239 element (the first one when several)."""
    for pair in element.split(",")[0].split(";"):
        key, _, value = pair.strip().partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"').lower() if name == "proto" else value.strip('"')
    return ""


class FailedKeys:
    """Wrong keys per client address in the last ``window`` seconds, at most ``limit``."""

    #: Addresses remembered at most (the oldest go first): memory stays bounded under a spray.
    MAX_ADDRESSES = 10000

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._seen: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def wait(self, address: str, now: float | None = None) -> float:
        """Seconds ``address`` must wait before it may present a key again (0: it may)."""
        now = time.monotonic() if now is None else now
        times = self._seen.get(address)
        if times is None:
            return 0.0
        _forget_before(times, now - self.window)
        if len(times) < self.limit:
            return 0.0
        return max(times[0] + self.window - now, 0.001)

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        times = self._seen.pop(address, None) or collections.deque()
        _forget_before(times, now - self.window)
        times.append(now)
        self._seen[address] = times  # the newest at the end
        while len(self._seen) > self.MAX_ADDRESSES:
            self._seen.popitem(last=False)


def _forget_before(times: collections.deque[float], since: float) -> None:
    while times and times[0] < since:
        times.popleft()


def retry_after(seconds: float) -> dict[str, str]:
    """The ``Retry-After`` header for a wait of ``seconds`` (whole seconds, at least 1)."""
    return {"Retry-After": str(max(1, int(seconds + 0.999)))}
