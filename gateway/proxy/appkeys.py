"""The keys of what the proxy's application and requests hold (``app[GATEWAY]``, ...), in a
module of their own so that every part of the proxy (routes, the console) reads them."""

from __future__ import annotations

from aiohttp import web

from gateway.config import GatewayConfig
from gateway.proxy import listing
from gateway.proxy.keys import ApiKeys
from gateway.proxy.metrics import Metrics
from gateway.proxy.read_ahead import ReadAhead
from gateway.service import Gateway

__all__ = ["CONFIG", "CURSORS", "GATEWAY", "KEYS", "MASK_URLS", "METRICS", "READ_AHEAD"]

GATEWAY = web.AppKey("gateway", Gateway)
CONFIG = web.AppKey("config", GatewayConfig)
METRICS = web.AppKey("metrics", Metrics)
KEYS = web.AppKey("keys", ApiKeys)
CURSORS = web.AppKey("cursors", listing.Cursors)
#: List pages read ahead of the request that follows their cursor.
READ_AHEAD = web.AppKey("read_ahead", ReadAhead)
#: Whether this request's key may not see credentials in webhook URLs (a read key).
MASK_URLS = web.RequestKey("mask_urls", bool)
