"""What the command line asks of a gateway, in the HTTP API's JSON: ``Local`` answers it with the
library and the config's vendor credentials, ``Remote`` through a running proxy with an API key
(``--server``), so that an operator needs no vendor credential and the proxy's rules (key
scopes, destination policy, audit actor) hold. Both answer the same shapes, so every command
prints the same table and JSON, and exits with the same status, in either mode.

Lists are one envelope, ``{"items": [...], "errors": [...], "next_cursor": ...}``, whether of one
account or all (``Remote`` follows the cursors; ``next_cursor`` is then null).
"""

from __future__ import annotations

import asyncio
import builtins
import json
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from gateway.cli.output import Refused
from gateway.codec import (
    capabilities_to_json,
    change_from_json,
    diverted_to_json,
    event_type_to_json,
    ping_to_json,
    record_error_to_json,
    spec_from_json,
    webhook_to_json,
)
from gateway.errors import (
    ConfigError,
    Conflict,
    DeadlineExceeded,
    FieldProblem,
    GatewayError,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    ProviderUnavailable,
    RateLimited,
    Unsupported,
)
from gateway.proxy.audit import audit_answer
from gateway.proxy.listing import account_error
from gateway.proxy.problems import error_of_type
from gateway.service import Account, Gateway

__all__ = ["Local", "Ops", "Refused", "Remote"]

Json = dict[str, Any]


class Ops(Protocol):
    async def accounts(self) -> builtins.list[Json]: ...
    async def event_types(self, account: str) -> builtins.list[Json]: ...
    async def list(self, account: str | None, filters: Json) -> Json: ...
    async def get(self, account: str, id: str) -> Json: ...
    async def create(self, account: str, body: Json) -> Json: ...
    async def update(self, account: str, id: str, body: Json) -> Json: ...
    async def delete(self, account: str, id: str) -> None: ...
    async def ping(self, account: str, id: str) -> Json: ...
    async def unsuspend(self, account: str, id: str) -> None: ...
    async def diverted(self, account: str, id: str) -> builtins.list[Json]: ...
    async def resend(self, account: str, id: str, event: str) -> Any: ...
    async def rotate(self, account: str, id: str, body: Json) -> Json: ...
    async def audit(self, params: dict[str, str]) -> Json: ...
    async def health(self, account: str | None) -> builtins.list[Json]: ...


class Local:
    """The library, with the config's credentials."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def accounts(self) -> builtins.list[Json]:
        return [{"name": a.name, "provider": a.provider, "title": a.title,
                 "capabilities": capabilities_to_json(a.capabilities)}
                for a in self.gw.accounts()]  # fmt: skip

    async def event_types(self, account: str) -> builtins.list[Json]:
        return [event_type_to_json(t) for t in await self.gw.account(account).event_types()]

    async def list(self, account: str | None, filters: Json) -> Json:
        names = [account] if account else [info.name for info in self.gw.accounts()]

        async def one(name: str) -> tuple[builtins.list[Json], builtins.list[Json]]:
            target = self.gw.account(name)
            listing = target.list(**filters)
            try:
                found = [webhook_to_json(wh) async for wh in listing]
            except InvalidRequest as exc:
                if account or exc.status is not None or not filters.get("event"):
                    raise
                return [], []  # not an event of this account's catalog: nothing matches here
            except GatewayError as exc:
                if account:
                    raise
                return [], [account_error(name, target.kind, exc)]
            return found, [record_error_to_json(r) for r in listing.unreadable]

        results = await asyncio.gather(*(one(name) for name in names))
        items = [w for found, _ in results for w in found]
        errors = [e for _, found_errors in results for e in found_errors]
        return {"items": items, "errors": errors, "next_cursor": None}

    async def get(self, account: str, id: str) -> Json:
        return webhook_to_json(await self.gw.account(account).get(id))

    async def create(self, account: str, body: Json) -> Json:
        return webhook_to_json(await self.gw.account(account).create(spec_from_json(body)))

    async def update(self, account: str, id: str, body: Json) -> Json:
        return webhook_to_json(await self.gw.account(account).update(id, change_from_json(body)))

    async def delete(self, account: str, id: str) -> None:
        await self.gw.account(account).delete(id)

    async def ping(self, account: str, id: str) -> Json:
        return ping_to_json(await self.gw.account(account).ping(id))

    async def unsuspend(self, account: str, id: str) -> None:
        await self.gw.account(account).unsuspend(id)

    def _extra(self, account: str, name: str) -> Account:
        target = self.gw.account(account)
        if not target.has_extra(name):
            raise Unsupported(target.kind, name.replace("_", " "), account=target.name)
        return target

    async def diverted(self, account: str, id: str) -> builtins.list[Json]:
        target = self._extra(account, "list_diverted")
        return [diverted_to_json(e) async for e in target.ex_list_diverted(id)]

    async def resend(self, account: str, id: str, event: str) -> Any:
        return await self._extra(account, "resend_diverted").ex_resend_diverted(id, event)

    async def rotate(self, account: str, id: str, body: Json) -> Json:
        from gateway.health.rotation import rotate_secret

        rotated = await rotate_secret(self.gw, account, id, new=body.get("secret"),
                                      previous=body.get("previous"),
                                      grace=body.get("grace_hours", 24) * 3600)  # fmt: skip
        until = rotated.previous_valid_until
        return {"rotated": id,
                "previous_valid_until": datetime.fromtimestamp(until, UTC).isoformat()
                if until else None}  # fmt: skip

    async def audit(self, params: dict[str, str]) -> Json:
        return await audit_answer(params, self._store("the audit log"))

    async def health(self, account: str | None) -> builtins.list[Json]:
        from gateway.health.watch import health_rows

        self._store("health")
        return await health_rows(self.gw, account)

    def _store(self, what: str) -> Any:
        if self.gw.store is None:
            raise ConfigError(problems=[FieldProblem("state", f"{what} needs a state store: "
                                                     "set [state] url")])  # fmt: skip
        return self.gw.store


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
                raw = await resp.read()
                data = _json(raw) if raw else None
                if resp.status >= 400 or resp.status in (301, 302, 303, 307, 308):
                    raise _error(resp.status, data, self.server)
                return data
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(
                f"cannot reach the gateway at {self.server} ({type(exc).__name__})"
            ) from None

    def _path(self, account: str, *parts: str) -> str:
        tail = "".join(f"/{quote(p, safe='')}" for p in parts)
        return f"/v1/accounts/{quote(account, safe='')}{tail}"

    async def accounts(self) -> builtins.list[Json]:
        return list((await self.call("GET", "/v1/accounts"))["items"])

    async def event_types(self, account: str) -> builtins.list[Json]:
        return list((await self.call("GET", self._path(account, "event-types")))["items"])

    async def list(self, account: str | None, filters: Json) -> Json:
        params = {k: (str(v).lower() if isinstance(v, bool) else v)
                  for k, v in filters.items() if v is not None}  # fmt: skip
        path = self._path(account, "webhooks") if account else "/v1/webhooks"
        items: builtins.list[Json] = []
        errors: builtins.list[Json] = []
        cursor = None
        while True:
            query = {**params, "limit": "1000", **({"cursor": cursor} if cursor else {})}
            page = await self.call("GET", path, params=query)
            items += page["items"]
            errors += [e for e in page.get("errors", []) if e not in errors]
            cursor = page.get("next_cursor")
            if not cursor:
                return {"items": items, "errors": errors, "next_cursor": None}

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

    async def diverted(self, account: str, id: str) -> builtins.list[Json]:
        path = self._path(account, "webhooks", id, "diverted-events")
        return list((await self.call("GET", path))["items"])

    async def resend(self, account: str, id: str, event: str) -> Any:
        path = self._path(account, "webhooks", id, "diverted-events", event, "resend")
        return (await self.call("POST", path))["result"]

    async def rotate(self, account: str, id: str, body: Json) -> Json:
        path = self._path(account, "webhooks", id, "rotate-secret")
        return dict(await self.call("POST", path, body=body))

    async def audit(self, params: dict[str, str]) -> Json:
        return dict(await self.call("GET", "/v1/audit", params=params))

    async def health(self, account: str | None) -> builtins.list[Json]:
        params = {"account": account} if account else {}
        return list((await self.call("GET", "/v1/health/webhooks", params=params))["items"])

    async def plan(self, body: Json) -> Json:
        return dict(await self.call("POST", "/v1/plan", body=body))

    async def apply(self, body: Json) -> Json:
        return dict(await self.call("POST", "/v1/apply", body=body))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


#: A problem's status -> the error the library would have raised (its exit status follows).
_BY_STATUS: dict[int, type[GatewayError]] = {
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    429: RateLimited,
    501: InvalidRequest,  # the server lacks what the command needs
    502: ProviderUnavailable,
    503: ProviderUnavailable,
    504: DeadlineExceeded,
}


def _error(status: int, data: Any, server: str) -> GatewayError:
    """The ``GatewayError`` of a problem+json answer (``detail`` is the proxy's message)."""
    problem = data if isinstance(data, dict) else {}
    detail = str(problem.get("detail") or f"the gateway at {server} answered {status}")
    where = {k: problem.get(k) for k in ("provider", "account", "code", "trace_id")}
    where["status"] = problem.get("provider_status")
    if status in (401, 403):
        return Refused(detail)
    if status in (400, 422):
        problems = [FieldProblem(e.get("path", ""), e.get("message", "")) for e in
                    problem.get("errors", []) if isinstance(e, dict)]  # fmt: skip
        return InvalidRequest(detail, problems=problems, **where)
    if status in (301, 302, 303, 307, 308):
        return ProviderUnavailable(f"the gateway at {server} redirected ({status}): not followed")
    typed = error_of_type(str(problem.get("type", "")))  # outcome unknown, deadline, ...
    if typed is not None:
        return typed(detail, **where)
    error = _BY_STATUS.get(status, ProviderUnavailable if status >= 500 else InvalidRequest)
    return error(detail, **where)
