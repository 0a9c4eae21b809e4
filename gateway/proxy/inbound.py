"""The inbound relay: ``POST /v1/inbound/{account}`` takes a provider's delivery, verifies it
(``gateway.verify``, with the account's ``[inbound]`` secrets, and, with ``webhook``, the
secrets ``rotate`` keeps for it: the current one and the previous during its grace period)
and forwards it to the configured destinations as a CloudEvent signed per Standard Webhooks,
so internal services verify one scheme whatever the provider.

No API key: the provider calls it, and its signature is the authentication. A delivery that
does not verify is 401 and counted (``gateway_inbound_refused_total``); nothing is forwarded.
A verified one is 202 once every destination took it (or 502 naming those that did not).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gateway.config import InboundConfig
from gateway.events import Sink, deliver_event
from gateway.proxy.problems import ProblemError, problem
from gateway.rotation import verification_secrets
from gateway.service import Gateway
from gateway.verify import verify

__all__ = ["relay"]


def _event(account: str, provider: str, body: bytes, content_type: str) -> dict[str, Any]:
    try:
        data: Any = orjson.loads(body)
        data_type = "application/json"
    except orjson.JSONDecodeError:
        data, data_type = body.decode("utf-8", "replace"), content_type or "text/plain"
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"webhook-gateway/{account}",
        "type": f"com.webhook-gateway.delivery.{provider}",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": data_type,
        "data": data,
    }


async def relay(
    request: web.Request,
    gw: Gateway,
    account: str,
    provider: str,
    config: InboundConfig,
    counts: dict[str, int],
) -> web.Response:
    body = await request.read()
    secrets = list(config.secrets)
    if config.webhook is not None:  # the secrets rotate keeps, current first
        secrets = [*await verification_secrets(gw, account, config.webhook), *secrets]
    if not secrets:
        raise ProblemError(503, f"no secret to verify deliveries of {account} with yet")
    result = verify(provider, request.headers, body, secrets)
    if not result.ok:
        counts[account] = counts.get(account, 0) + 1
        raise ProblemError(401, f"the delivery does not verify for account {account}")
    event = _event(account, provider, body, request.content_type)
    sinks = [Sink(url=d.url, secret=d.secret) for d in config.destinations]
    http = gw.transport.session  # the gateway's pooled session, not one per delivery
    failed = [s.url for s in sinks if not await deliver_event(http, s, event)]
    if failed:
        return problem(502, f"verified, but not forwarded to {len(failed)} destination(s)",
                       failed=failed)  # fmt: skip
    return web.json_response({"forwarded": event["id"], "secret": result.matched}, status=202)
