"""The keys of what the proxy's application and requests hold (``app[GATEWAY]``, ...), in a
module of their own so that every part of the proxy (routes, the console) reads them."""

from __future__ import annotations

from aiohttp import web

from gateway.config import GatewayConfig
from gateway.operations import Operations, Principal
from gateway.proxy.keys import ApiKeys
from gateway.proxy.metrics import Metrics
from gateway.service import Gateway

__all__ = ["CONFIG", "GATEWAY", "KEYS", "METRICS", "OPERATIONS", "PRINCIPAL"]

GATEWAY = web.AppKey("gateway", Gateway)
CONFIG = web.AppKey("config", GatewayConfig)
METRICS = web.AppKey("metrics", Metrics)
KEYS = web.AppKey("keys", ApiKeys)
#: Every use case, on the app's gateway (``gateway.operations``): what each route calls.
OPERATIONS = web.AppKey("operations", Operations)
#: Who is asking: the API key of this request (or the console session's).
PRINCIPAL = web.RequestKey("principal", Principal)
