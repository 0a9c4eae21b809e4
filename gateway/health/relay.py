"""The inbound relay's core: a provider's delivery is verified (``gateway.health.verify``, with
the account's ``[inbound]`` secrets and, with ``webhook``, the secrets ``rotate`` keeps for it:
the current one and the previous during its grace period) and forwarded to the configured
destinations as a CloudEvent signed per Standard Webhooks, so internal services verify one
scheme whatever the provider.

The HTTP side (``POST /v1/inbound/{account}``, its statuses and its refusal counter) is the
proxy's route (``gateway.proxy.inbound``); this module knows nothing of HTTP answers.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson

from gateway.config import InboundConfig
from gateway.health.events import Sink, deliver_event
from gateway.health.rotation import verification_secrets
from gateway.health.verify import verify
from gateway.service import Gateway

__all__ = ["Outcome", "Relayed", "relay_delivery"]


class Outcome(enum.Enum):
    UNVERIFIABLE = "unverifiable"  # no secret to verify with yet
    REFUSED = "refused"  # the delivery does not verify: nothing forwarded
    FORWARDED = "forwarded"  # every destination took it
    PARTIAL = "partial"  # verified, but some destinations did not take it


@attrs.frozen
class Relayed:
    """What became of one delivery: ``event_id`` is the forwarded CloudEvent's id, ``matched``
    the index of the secret that verified it, ``failed`` the destinations that did not take it."""

    outcome: Outcome
    event_id: str | None = None
    matched: int | None = None
    failed: tuple[str, ...] = ()


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


async def relay_delivery(
    gw: Gateway,
    account: str,
    provider: str,
    config: InboundConfig,
    headers: Mapping[str, str],
    body: bytes,
    content_type: str,
) -> Relayed:
    """Verify ``body`` as a delivery of ``account`` and forward it to ``config``'s destinations."""
    secrets = list(config.secrets)
    if config.webhook is not None:  # the secrets rotate keeps, current first
        secrets = [*await verification_secrets(gw, account, config.webhook), *secrets]
    if not secrets:
        return Relayed(Outcome.UNVERIFIABLE)
    result = verify(provider, headers, body, secrets)
    if not result.ok:
        return Relayed(Outcome.REFUSED)
    event = _event(account, provider, body, content_type)
    sinks = [Sink(url=d.url, secret=d.secret) for d in config.destinations]
    http = gw.transport.session  # the gateway's pooled session, not one per delivery
    failed = tuple([s.url for s in sinks if not await deliver_event(http, s, event)])
    outcome = Outcome.PARTIAL if failed else Outcome.FORWARDED
    return Relayed(outcome, event_id=event["id"], matched=result.matched, failed=failed)
