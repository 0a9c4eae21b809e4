"""The inbound relay's routes: ``POST /v1/inbound/{account}`` and
``POST /v1/inbound/{account}/{subscription}`` (one path per subscription: the relay then tells
apart events whose provider ids they share, and the destination learns which subscription
fired, as the CloudEvent's ``subject``) take a provider's delivery and
hands it to the relay (``gateway.health.relay``), which verifies it and queues it for its
destinations in the state store.

No API key: the provider calls it, and its signature is the authentication. A delivery that
does not verify is 401 and counted (``gateway_inbound_refused_total``); nothing is forwarded.
A verified one is 202 as soon as it is stored (``{"queued": <event id>, "secret": <index>}``),
or 202 ``{"replayed": <event id>}`` when its event was relayed within the replay window; the
forwarding happens after, with retries.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from gateway.config import InboundConfig
from gateway.health.relay import Outcome, relay_delivery
from gateway.proxy.problems import ProblemError
from gateway.service import Gateway

__all__ = ["relay"]


async def relay(
    request: web.Request,
    gw: Gateway,
    account: str,
    provider: str,
    config: InboundConfig,
    counts: dict[str, int],
    subscription: str | None = None,
) -> web.Response:
    body = await request.read()
    relayed = await relay_delivery(
        gw, account, provider, config, request.headers, body, request.content_type,
        subscription,
    )  # fmt: skip
    if relayed.outcome is Outcome.UNVERIFIABLE:
        raise ProblemError(503, f"no secret to verify deliveries of {account} with yet")
    if relayed.outcome is Outcome.FULL:
        raise ProblemError(503, "the relay's outbox is full: deliver again later",
                           {"Retry-After": "60"})  # fmt: skip
    if relayed.outcome is Outcome.REFUSED:
        counts[account] = counts.get(account, 0) + 1
        raise ProblemError(401, f"the delivery does not verify for account {account}")
    key = "replayed" if relayed.outcome is Outcome.REPLAYED else "queued"
    # (orjson: the answer to every delivery, several times cheaper than ``json.dumps``)
    answer = orjson.dumps({key: relayed.event_id, "secret": relayed.matched})
    return web.Response(body=answer, status=202, content_type="application/json")
