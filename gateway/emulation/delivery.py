"""Outgoing delivery from an emulator: ``Deliverer`` POSTs an event to a subscriber URL with a
short timeout, reporting the outcome (``Delivery``) instead of raising, as a provider's delivery
worker would."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import attrs

__all__ = ["Deliverer", "Delivery"]


@attrs.frozen(kw_only=True)
class Delivery:
    """The outcome of one POST to a subscriber."""

    url: str
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Deliverer:
    """Sends events to subscriber URLs; owns its client session (``start``/``close``)."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        verify_tls: bool = True,
    ) -> Delivery:
        await self.start()
        assert self._session is not None
        try:
            async with self._session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", **headers},
                ssl=verify_tls,
            ) as resp:
                await resp.read()
                return Delivery(url=url, status=resp.status)
        except TimeoutError:
            return Delivery(url=url, status=None, error="timeout")
        except aiohttp.ClientError as exc:
            return Delivery(url=url, status=None, error=f"{type(exc).__name__}: {exc}")
