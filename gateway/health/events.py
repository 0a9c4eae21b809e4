"""Operational events: what ``watch`` saw change, sent to configured HTTPS sinks.

Each transition is a CloudEvents 1.0 event in structured JSON mode (``application/cloudevents
+json``): ``type`` is ``com.webhook-gateway.webhook.<change>`` (``suspended``, ``disabled``,
``active``, ``diverted``, ``deleted``), or for drift ``com.webhook-gateway.drift`` and
``com.webhook-gateway.drift_resolved`` (gateway/health/drift.py), ``source``
``webhook-gateway/<account>``, ``subject`` the webhook's id (a drift without one: its manifest
key), ``data`` the transition. It is signed per the Standard Webhooks scheme: headers
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (``v1,`` + Base64 of
HMAC-SHA256 over ``id.timestamp.body``, keyed with the Base64 part of the sink's
``whsec_...`` secret), so a sink verifies with any Standard Webhooks library. A delivery is
retried with backoff (at most ``ATTEMPTS`` tries, on a connection error, a 429, a 5xx or a
3xx: redirects are never followed) and each outcome is logged (``gateway.health.events``) and
counted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs
import orjson

from gateway.model import Secret
from gateway.transport import tracing

__all__ = ["ATTEMPTS", "Sink", "deliver_event", "deliver_events", "sign", "to_cloudevent"]

log = logging.getLogger("gateway.health.events")

ATTEMPTS = 5
_TIMEOUT = aiohttp.ClientTimeout(total=30)  # one attempt of one delivery
EVENT_TYPE = "com.webhook-gateway.webhook.{change}"


@attrs.frozen(kw_only=True)
class Sink:
    """An HTTPS endpoint for operational events, and its Standard Webhooks secret."""

    url: str
    secret: Secret


def sign(secret: Secret, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of the Standard Webhooks scheme."""
    key = base64.b64decode(secret.reveal().removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)  # (not joined to the prefix first: the body is not copied)
    return "v1," + base64.b64encode(mac.digest()).decode()


def to_cloudevent(transition: Any) -> dict[str, Any]:
    """A ``gateway.health.watch.Transition`` as a structured CloudEvent."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"webhook-gateway/{transition.account}",
        "type": getattr(transition, "event_type", None)
        or EVENT_TYPE.format(change=transition.change),
        "subject": transition.webhook_id or getattr(transition, "key", None),
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": transition.to_json()
        if hasattr(transition, "to_json")
        else attrs.asdict(transition),
    }


@functools.lru_cache(maxsize=256)
def _host(url: str) -> str | None:
    return urlsplit(url).hostname


@functools.lru_cache(maxsize=256)
def _shown(url: str) -> str:
    """A sink's URL for the log: scheme, host and path; no user info, no query (tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def deliver_event(
    http: aiohttp.ClientSession,
    sink: Sink,
    event: dict[str, Any],
    *,
    attempts: int = ATTEMPTS,
    body: bytes | None = None,
) -> bool:
    """Send one CloudEvent to one sink, signed and retried (at most ``attempts`` tries);
    whether it was taken. ``body``: the event as JSON already (the relay's stored bytes; then
    ``event`` need only hold its ``id`` and ``type``), and a delivery taken is logged at debug
    level only (the relay counts them; a log line each would cost more than the sending)."""
    quiet = body is not None
    if body is None:
        body = orjson.dumps(event)
    for attempt in range(1, attempts + 1):
        done, retry = await _attempt(http, sink, event, body, attempt, quiet)
        if done or not retry or attempt == attempts:
            return done
        await asyncio.sleep(min(30.0, 0.5 * 2 ** (attempt - 1)))
    return False


async def _attempt(
    http: aiohttp.ClientSession,
    sink: Sink,
    event: dict[str, Any],
    body: bytes,
    attempt: int,
    quiet: bool = False,
) -> tuple[bool, bool]:
    """One attempt of one delivery, as a span of its own: ``(taken, worth retrying)``."""
    traced = tracing.span("deliver event", "client", webhook_gateway__event_type=event["type"],
                          server__address=_host(sink.url),
                          http__request__resend_count=attempt - 1 or None,
                          ) if tracing.enabled() else contextlib.nullcontext()  # fmt: skip
    with traced:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/cloudevents+json",
            "webhook-id": event["id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(sink.secret, event["id"], timestamp, body),
        }
        tracing.inject(headers)  # the sink continues the trace of what caused the event
        status: int | str
        try:
            # Never redirected: a 3xx is a failed delivery, retried like a 5xx (the event and
            # its signature go where they were configured to go, or nowhere).
            async with http.post(sink.url, data=body, headers=headers, timeout=_TIMEOUT,
                                 allow_redirects=False) as resp:  # fmt: skip
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        done = isinstance(status, int) and status < 300
        retry = not done and (
            not isinstance(status, int) or status == 429 or status >= 500 or 300 <= status < 400
        )
        level = logging.DEBUG if done and quiet else logging.INFO
        if log.isEnabledFor(level):  # (a relayed event taken: nothing to build per event)
            log.log(
                level,
                "operational event delivered" if done else "operational event not delivered",
                extra={"sink": _shown(sink.url), "event_type": event["type"],
                       "event_id": event["id"], "status": status, "attempt": attempt},
            )  # fmt: skip
        tracing.set_attributes(http__response__status_code=status if isinstance(status, int)
                               else None)  # fmt: skip
        if not done:
            tracing.failed(RuntimeError(str(status)))
        return done, retry
    return False


async def deliver_events(
    http: aiohttp.ClientSession, sinks: Sequence[Sink], transitions: Sequence[Any]
) -> int:
    """Send every transition given (but ``new``) to every sink, on ``http`` (the gateway's
    session: its connections are reused); how many deliveries failed. (``watch_once`` gives
    the out-of-band ones: see gateway/health/watch.py.)"""
    events = [to_cloudevent(t) for t in transitions if t.change != "new"]
    if not events or not sinks:
        return 0
    results = await asyncio.gather(
        *(deliver_event(http, sink, event) for sink in sinks for event in events)
    )
    return sum(not ok for ok in results)
