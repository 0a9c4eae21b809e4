"""Shared fixtures, and the aioresponses adaptation for aiohttp 3.14.

aioresponses 0.7.9 builds ``ClientResponse`` without the ``stream_writer`` argument that aiohttp
3.14 requires (pnuckowski/aioresponses#289). We keep aiohttp 3.14 for its security fix and hand
aioresponses a response class that supplies a finished writer. Note that aioresponses bypasses
client middlewares: auth and retry are tested against real servers in test_transport.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioresponses.core
import pytest
from aiohttp import ClientResponse

from gateway import Gateway
from gateway.config import parse_config


class _SentWriter:
    """Stands in for the stream writer of a request that has been sent completely."""

    output_size = 0


class _CompatClientResponse(ClientResponse):
    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentWriter())
        super().__init__(method, url, **kwargs)


aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[attr-defined]

DATA = Path(__file__).parent / "data"


def memory_config(**settings: Any) -> dict[str, Any]:
    """A config dict with one memory account named ``mem``."""
    return {"accounts": {"mem": {"provider": "memory", **settings}}}


@pytest.fixture
async def memory_gateway() -> AsyncIterator[Gateway]:
    async with Gateway(parse_config(memory_config(page_size=2))) as gw:
        yield gw
