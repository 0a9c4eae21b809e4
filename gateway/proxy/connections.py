"""The proxy's listening socket: a bounded number of connections, a deadline for each request
head, and problem+json answers for requests too malformed to reach the application.

``ProxySite`` is an aiohttp ``TCPSite`` whose connections are ``ProxyConnection`` protocols:

- at most ``server.max_connections`` are open at once, and at most
  ``server.max_connections_per_client`` from one client address (0: no such limit; leave it
  at 0 behind a load balancer, whose address all connections share); a connection beyond a
  limit gets an immediate ``503`` problem (``Retry-After: 1``) and is closed, so a flood of
  idle sockets can neither exhaust the process's file descriptors nor, with a per-client
  limit, keep other clients out;
- a connection must deliver a complete request head within ``server.request_head_timeout``
  seconds of connecting, and of the end of its previous answer (this is also how long an idle
  keep-alive connection stays open); a slow sender ("slowloris") is closed when it runs out;
- a request line or header field longer than ``MAX_LINE_BYTES``, more than ``MAX_HEADERS``
  header fields, or anything else that is not HTTP/1.1 is answered with a ``400`` problem that
  says which limit was hit. Neither the answer nor the log repeats a byte of the request: the
  oversized line may be an ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
from collections import Counter
from http import HTTPStatus
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    ContentLengthError,
    HttpProcessingError,
    InvalidHeader,
    LineTooLong,
    TransferEncodingError,
)
from aiohttp.web_protocol import RequestHandler

from gateway.proxy.problems import PROBLEM_TYPE, problem_body

__all__ = [
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "ProxyConnection",
    "ProxySite",
    "raise_open_files_limit",
]

log = logging.getLogger("gateway.proxy.connections")

#: Longest request line or header field, and most header fields, a request may have.
MAX_LINE_BYTES = 8190
MAX_HEADERS = 100
#: File descriptors kept beyond ``max_connections`` for provider connections, logs and refusals.
_SPARE_FILES = 512
#: How long a connection answered before its request was read (refused, or answered before its
#: body arrived) is kept open, its input dropped, so that the answer is not lost to a reset.
_LINGER = 2.0


def _bad_request_detail(exc: BaseException | None) -> str:
    """What is wrong with an unparseable request, without repeating any of its bytes."""
    if isinstance(exc, LineTooLong):
        return f"the request line or a header field is longer than {MAX_LINE_BYTES} bytes"
    if isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc.message):
        return f"the request has more than {MAX_HEADERS} header fields"
    if isinstance(exc, (BadHttpMethod, BadStatusLine)):
        return "the request line is not HTTP/1.x: expected METHOD SP target SP HTTP/1.1"
    if isinstance(exc, InvalidHeader):
        return "a header field is malformed (name or value has characters HTTP does not allow)"
    if isinstance(exc, (ContentLengthError, TransferEncodingError)):
        return "the request body does not match its Content-Length or chunked framing"
    if isinstance(exc, HttpProcessingError):
        # The parser's reason comes first ("Invalid header token"); the bytes follow a colon.
        reason = str(exc.message).split("\n", 1)[0].split(":", 1)[0].strip()[:80]
        if reason:
            return f"the request is not valid HTTP/1.1: {reason}"
    return "the request is not valid HTTP/1.1"


def _raw_problem(status: int, detail: str, headers: dict[str, str]) -> bytes:
    body = orjson.dumps(problem_body(status, detail))
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Type: {PROBLEM_TYPE}"]
    head += [f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


class _Gate:
    """Counts open connections, in all and per client address, and refuses those over a limit:
    a refused connection gets ``answer`` at once and is closed after ``_LINGER`` seconds
    (so the answer is not lost to a reset while the client is still sending its request), or
    at once when as many refusals are already lingering as connections may be open."""

    def __init__(self, max_total: int, max_per_client: int) -> None:
        self.max_total, self.max_per_client = max_total, max_per_client
        self.open = 0
        self.per_client: Counter[str] = Counter()
        self.lingering = 0
        self.answer = _raw_problem(
            503,
            "the gateway is serving as many connections as it may (server.max_connections, "
            "server.max_connections_per_client); retry shortly",
            {"Retry-After": "1"},
        )

    def admit(self, client: str) -> bool:
        if self.open >= self.max_total:
            return False
        if self.max_per_client and self.per_client[client] >= self.max_per_client:
            return False
        self.open += 1
        self.per_client[client] += 1
        return True

    def release(self, client: str) -> None:
        self.open -= 1
        self.per_client[client] -= 1
        if not self.per_client[client]:
            del self.per_client[client]

    def refuse(self, transport: asyncio.Transport) -> None:
        if self.lingering >= self.max_total:
            transport.abort()
            return
        self.lingering += 1
        transport.write(self.answer)
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(_LINGER, transport.abort)

    def refusal_closed(self) -> None:
        self.lingering -= 1


class ProxyConnection(RequestHandler):
    """aiohttp's connection protocol, admitted by the site's ``_Gate`` and answering
    unparseable requests with a problem."""

    __slots__ = ("_admitted", "_client", "_gate")

    def __init__(self, manager: web.Server, gate: _Gate, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._gate, self._client, self._admitted = gate, "", False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else ""
        self._admitted = self._gate.admit(self._client)
        if self._admitted:
            super().connection_made(transport)
        else:
            self._gate.refuse(transport)

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._admitted:
            self._gate.release(self._client)
            super().connection_lost(exc)
        else:
            self._gate.refusal_closed()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already being sent; closing the connection")
        if isinstance(exc, HttpProcessingError) or (status == 400 and exc is None):
            status, detail = 400, _bad_request_detail(exc)
            # The exception's text holds the start of the offending bytes: log its kind only.
            log.info(
                "refused an unparseable request",
                extra={"peer": self._client, "reason": detail, "kind": type(exc).__name__},
            )
        elif status == 504:
            detail = "the request took too long to handle"
        else:
            status, detail = 500, "the gateway failed to handle the request"
            log.error("unhandled error", exc_info=exc, extra={"peer": self._client})
        response = web.Response(
            body=orjson.dumps(problem_body(status, detail)),
            status=status,
            content_type=PROBLEM_TYPE,
        )
        response.force_close()
        return response


class ProxySite(web.TCPSite):
    """A TCP site whose connections are ``ProxyConnection`` protocols: at most
    ``max_connections`` open (and ``max_per_client`` per client address, 0: no such limit),
    each of which must send a complete request head within ``head_timeout`` seconds."""

    __slots__ = ("_gate", "_head_timeout")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        max_per_client: int = 0,
        head_timeout: float,
        backlog: int = 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, host, port, backlog=backlog, reuse_address=True,
                         ssl_context=ssl_context)  # fmt: skip
        self._gate = _Gate(max_connections, max_per_client)
        self._head_timeout = head_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert isinstance(server, web.Server)
        loop = asyncio.get_running_loop()

        def connection() -> ProxyConnection:
            return ProxyConnection(
                server,
                self._gate,
                loop=loop,
                keepalive_timeout=self._head_timeout,
                access_log=None,
                max_line_size=MAX_LINE_BYTES,
                max_field_size=MAX_LINE_BYTES,
                max_headers=MAX_HEADERS,
                lingering_time=_LINGER,
            )

        self._server = await loop.create_server(
            connection,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            ssl=self._ssl_context,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]


def raise_open_files_limit(max_connections: int) -> None:
    """Raise the soft limit on open files so ``max_connections`` fit, as far as the hard limit
    allows; warn when they cannot (``accept()`` would fail before the gateway's own limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            log.warning(
                "the open-files limit is below server.max_connections plus spare; lower "
                "max_connections or raise the hard limit (ulimit -Hn)",
                extra={"open_files_limit": new, "max_connections": max_connections},
            )
