"""The keys of what the proxy's application and requests hold (``app[GATEWAY]``, ...), in a
module of their own so that every part of the proxy (routes, the console) reads them."""

from __future__ import annotations

from aiohttp import web

from gateway.config import GatewayConfig
from gateway.operations import Operations, Principal
from gateway.proxy.clients import Clients, FailedKeys
from gateway.proxy.keys import ApiKeys
from gateway.proxy.metrics import Metrics
from gateway.proxy.oidc import OidcClient
from gateway.service import Gateway

__all__ = [
    "CLIENTS", "CONFIG", "FAILED_KEYS", "GATEWAY", "KEYS", "METRICS", "OIDC", "OPERATIONS",
    "PRINCIPAL",
]  # fmt: skip

GATEWAY = web.AppKey("gateway", Gateway)
CONFIG = web.AppKey("config", GatewayConfig)
METRICS = web.AppKey("metrics", Metrics)
KEYS = web.AppKey("keys", ApiKeys)
#: What the hops in front of the gateway say (``gateway.proxy.clients``).
CLIENTS = web.AppKey("clients", Clients)
#: Wrong API keys per client address (Bearer and console login alike).
FAILED_KEYS = web.AppKey("failed_keys", FailedKeys)
#: Every use case, on the app's gateway (``gateway.operations``): what each route calls.
OPERATIONS = web.AppKey("operations", Operations)
#: Who is asking: the API key of this request (or the console session's).
PRINCIPAL = web.RequestKey("principal", Principal)
#: The client of ``[auth.oidc]`` (absent without single sign-on).
OIDC = web.AppKey("oidc", OidcClient)
