"""The inbound relay's route: ``POST /v1/inbound/{account}`` takes a provider's delivery and
hands it to the relay (``gateway.health.relay``), which verifies and forwards it.

No API key: the provider calls it, and its signature is the authentication. A delivery that
does not verify is 401 and counted (``gateway_inbound_refused_total``); nothing is forwarded.
A verified one is 202 once every destination took it (or 502 naming those that did not).
"""

from __future__ import annotations

from aiohttp import web

from gateway.config import InboundConfig
from gateway.health.relay import Outcome, relay_delivery
from gateway.proxy.problems import ProblemError, problem
from gateway.service import Gateway

__all__ = ["relay"]


async def relay(
    request: web.Request,
    gw: Gateway,
    account: str,
    provider: str,
    config: InboundConfig,
    counts: dict[str, int],
) -> web.Response:
    body = await request.read()
    relayed = await relay_delivery(
        gw, account, provider, config, request.headers, body, request.content_type
    )
    if relayed.outcome is Outcome.UNVERIFIABLE:
        raise ProblemError(503, f"no secret to verify deliveries of {account} with yet")
    if relayed.outcome is Outcome.REFUSED:
        counts[account] = counts.get(account, 0) + 1
        raise ProblemError(401, f"the delivery does not verify for account {account}")
    if relayed.failed:
        return problem(502, f"verified, but not forwarded to {len(relayed.failed)} destination(s)",
                       failed=list(relayed.failed))  # fmt: skip
    return web.json_response({"forwarded": relayed.event_id, "secret": relayed.matched}, status=202)
