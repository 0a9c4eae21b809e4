"""What the command line asks of a gateway, in the HTTP API's JSON: ``Local`` answers it with the
operations layer in this process (``gateway.operations``, the config's vendor credentials),
``Remote`` through a running proxy with an API key (``--server``), so that an operator needs no
vendor credential and the proxy's rules hold. Both answer with the operations' own JSON
encoding (the proxy serves exactly it), so every command prints the same table and JSON, and
exits with the same status, in either mode; ``Remote`` reads a problem answer back into the
error it stands for through the one error table (``gateway.errors.error_from_problem``).

Lists are one envelope, ``{"items": [...], "errors": [...], "next_cursor": ...}``, whether of one
account or all (both follow the cursors to the end; ``next_cursor`` is then null).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from gateway.errors import ProviderError, ProviderUnavailable, error_from_problem
from gateway.operations import Operations, Principal
from gateway.operations.listing import follow_pages
from gateway.service import Gateway

__all__ = ["Local", "Ops", "Remote"]

Json = dict[str, Any]
Progress = Callable[[Any], None] | None


class Ops(Protocol):
    async def accounts(self) -> Json: ...
    async def whoami(self) -> Json: ...
    async def event_types(self, account: str) -> Json: ...
    async def list(self, account: str | None, filters: Json) -> Json: ...
    async def get(self, account: str, id: str) -> Json: ...
    async def create(self, account: str, body: Json) -> Json: ...
    async def update(self, account: str, id: str, body: Json) -> Json: ...
    async def delete(self, account: str, id: str) -> None: ...
    async def ping(self, account: str, id: str) -> Json: ...
    async def unsuspend(self, account: str, id: str) -> None: ...
    async def trigger_custom(self, account: str, data: Any) -> Json: ...
    async def diverted(self, account: str, id: str) -> Json: ...
    async def resend(self, account: str, id: str, event: str) -> Any: ...
    async def rotate(self, account: str, id: str, body: Json) -> Json: ...
    async def audit(self, params: dict[str, str]) -> Json: ...
    async def health(self, account: str | None) -> Json: ...
    async def plan(self, body: Json) -> Json: ...
    async def apply(self, body: Json, progress: Progress = None) -> Json: ...
    async def export(self, account: str | None) -> str: ...
    async def create_key(self, body: Json) -> Json: ...
    async def transfer(self, account: str, id: str, body: Json) -> Json: ...
    async def keys(self) -> Json: ...
    async def revoke_key(self, id: str) -> None: ...


class Local:
    """The operations in this process, as the person at the command line (``cli:<user>``)."""

    def __init__(self, gw: Gateway, who: Principal | None = None) -> None:
        self.gw = gw
        self.ops = Operations(gw)
        self.who = who or Principal.local("cli")

    async def accounts(self) -> Json:
        return (await self.ops.accounts(self.who)).to_json()

    async def whoami(self) -> Json:
        return await self.ops.whoami(self.who)

    async def create_key(self, body: Json) -> Json:
        return (await self.ops.create_key(self.who, body)).to_json()

    async def transfer(self, account: str, id: str, body: Json) -> Json:
        return await self.ops.transfer(self.who, account, id, body)

    async def keys(self) -> Json:
        return (await self.ops.keys(self.who)).to_json()

    async def revoke_key(self, id: str) -> None:
        await self.ops.revoke_key(self.who, id)

    async def event_types(self, account: str) -> Json:
        return (await self.ops.event_types(self.who, account)).to_json()

    async def list(self, account: str | None, filters: Json) -> Json:
        return (await self.ops.list_all(self.who, account, filters)).to_json()

    async def get(self, account: str, id: str) -> Json:
        return (await self.ops.get(self.who, account, id)).to_json()

    async def create(self, account: str, body: Json) -> Json:
        return (await self.ops.create(self.who, account, body)).to_json()

    async def update(self, account: str, id: str, body: Json) -> Json:
        return (await self.ops.update(self.who, account, id, body)).to_json()

    async def delete(self, account: str, id: str) -> None:
        await self.ops.delete(self.who, account, id)

    async def ping(self, account: str, id: str) -> Json:
        return await self.ops.ping(self.who, account, id)

    async def unsuspend(self, account: str, id: str) -> None:
        await self.ops.unsuspend(self.who, account, id)

    async def trigger_custom(self, account: str, data: Any) -> Json:
        return await self.ops.trigger_custom(self.who, account, data)

    async def diverted(self, account: str, id: str) -> Json:
        return (await self.ops.diverted(self.who, account, id)).to_json()

    async def resend(self, account: str, id: str, event: str) -> Any:
        return await self.ops.resend_diverted(self.who, account, id, event)

    async def rotate(self, account: str, id: str, body: Json) -> Json:
        return (await self.ops.rotate(self.who, account, id, body)).to_json()

    async def audit(self, params: dict[str, str]) -> Json:
        return await self.ops.audit(self.who, params)

    async def health(self, account: str | None) -> Json:
        return (await self.ops.health(self.who, account)).to_json()

    async def plan(self, body: Json) -> Json:
        return (await self.ops.plan(self.who, body)).to_json()

    async def apply(self, body: Json, progress: Progress = None) -> Json:
        return (await self.ops.apply(self.who, body, progress=progress)).to_json()

    async def export(self, account: str | None) -> str:
        return (await self.ops.export(self.who, account)).manifest


#: The largest answer read from a gateway (bytes): a page of 500 webhooks is far below it.
MAX_ANSWER_BYTES = 32 * 1024 * 1024


async def _bounded(resp: aiohttp.ClientResponse, server: str) -> bytes:
    """The answer's body, at most ``MAX_ANSWER_BYTES`` of it (else ``ProviderError``)."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise ProviderError(f"the gateway at {server} answered more than "
                                f"{MAX_ANSWER_BYTES >> 20} MiB: not read")  # fmt: skip
    return bytes(body)


class Remote:
    """A running proxy at ``server``, called with the API key ``token``."""

    def __init__(self, server: str, token: str, session: aiohttp.ClientSession) -> None:
        self.server = server.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.session = session

    def __repr__(self) -> str:
        return f"<Remote {self.server}>"  # never the token

    async def call(self, method: str, path: str, *, params: Json | None = None,
                   body: Any = None) -> Any:  # fmt: skip
        """The JSON answer of one request, or the ``GatewayError`` its problem+json says."""
        try:
            async with self.session.request(
                method, self.server + path, params=params, json=body, headers=self._headers,
                allow_redirects=False,
            ) as resp:  # fmt: skip
                raw = await _bounded(resp, self.server)
                data = _json(raw) if raw else None
                if resp.status in (301, 302, 303, 307, 308):
                    raise ProviderUnavailable(
                        f"the gateway at {self.server} redirected ({resp.status}): not followed"
                    )
                if resp.status >= 400:
                    raise error_from_problem(resp.status, data, self.server)
                return data
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(
                f"cannot reach the gateway at {self.server} ({type(exc).__name__})"
            ) from None

    def _path(self, account: str, *parts: str) -> str:
        tail = "".join(f"/{quote(p, safe='')}" for p in parts)
        return f"/v1/accounts/{quote(account, safe='')}{tail}"

    async def accounts(self) -> Json:
        return dict(await self.call("GET", "/v1/accounts"))

    async def whoami(self) -> Json:
        return dict(await self.call("GET", "/v1/whoami"))

    async def create_key(self, body: Json) -> Json:
        return dict(await self.call("POST", "/v1/keys", body=body))

    async def transfer(self, account: str, id: str, body: Json) -> Json:
        return dict(await self.call("POST", self._path(account, "webhooks", id, "owner"),
                                    body=body))  # fmt: skip

    async def keys(self) -> Json:
        return dict(await self.call("GET", "/v1/keys"))

    async def revoke_key(self, id: str) -> None:
        await self.call("DELETE", f"/v1/keys/{quote(id, safe='')}")

    async def event_types(self, account: str) -> Json:
        return dict(await self.call("GET", self._path(account, "event-types")))

    async def list(self, account: str | None, filters: Json) -> Json:
        path = self._path(account, "webhooks") if account else "/v1/webhooks"
        return await follow_pages(lambda query: self.call("GET", path, params=query), filters)

    async def get(self, account: str, id: str) -> Json:
        return dict(await self.call("GET", self._path(account, "webhooks", id)))

    async def create(self, account: str, body: Json) -> Json:
        return dict(await self.call("POST", self._path(account, "webhooks"), body=body))

    async def update(self, account: str, id: str, body: Json) -> Json:
        return dict(await self.call("PATCH", self._path(account, "webhooks", id), body=body))

    async def delete(self, account: str, id: str) -> None:
        await self.call("DELETE", self._path(account, "webhooks", id))

    async def ping(self, account: str, id: str) -> Json:
        return dict(await self.call("POST", self._path(account, "webhooks", id, "ping")))

    async def unsuspend(self, account: str, id: str) -> None:
        await self.call("POST", self._path(account, "webhooks", id, "unsuspend"))

    async def trigger_custom(self, account: str, data: Any) -> Json:
        return dict(await self.call("POST", self._path(account, "custom-events"), body=data))

    async def diverted(self, account: str, id: str) -> Json:
        return dict(await self.call("GET", self._path(account, "webhooks", id, "diverted-events")))

    async def resend(self, account: str, id: str, event: str) -> Any:
        path = self._path(account, "webhooks", id, "diverted-events", event, "resend")
        return (await self.call("POST", path))["result"]

    async def rotate(self, account: str, id: str, body: Json) -> Json:
        path = self._path(account, "webhooks", id, "rotate-secret")
        return dict(await self.call("POST", path, body=body))

    async def audit(self, params: dict[str, str]) -> Json:
        return dict(await self.call("GET", "/v1/audit", params=params))

    async def health(self, account: str | None) -> Json:
        params = {"account": account} if account else {}
        return dict(await self.call("GET", "/v1/health/webhooks", params=params))

    async def plan(self, body: Json) -> Json:
        return dict(await self.call("POST", "/v1/plan", body=body))

    async def apply(self, body: Json, progress: Progress = None) -> Json:
        return dict(await self.call("POST", "/v1/apply", body=body))

    async def export(self, account: str | None) -> str:
        params = {"account": account} if account else {}
        return str((await self.call("GET", "/v1/export", params=params))["manifest"])


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
