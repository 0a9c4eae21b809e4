"""The webhook use cases: accounts, event types, list, get, create, update, delete, ping,
unsuspend, rotate a secret, and the providers' diverted events.

Each takes who is asking first and asks its grants (``Principal``; ``gateway.access``): reads
need ``read``; create, update, ping, unsuspend, resend ``write``; delete ``delete``; a secret
set or rotated ``secrets``. The account is checked before the input is looked at, the webhook
(by name, where grants name webhooks) once it is known. What the caller may not read does not
exist for it: a 404, and listings leave it out. Writes run as that caller (the audit log's
actor, with the grant that allowed them).
Input comes as the API's JSON; every problem with it is answered at once (``_input``): the
shape's (unknown keys, wrong types), the model's (an empty name, a bad URL) and the account's
(a setting the provider cannot store, an unknown event, a refused destination).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

import attrs
import orjson

from gateway.checks import did_you_mean
from gateway.codec import (
    capabilities_to_json,
    diverted_to_json,
    event_type_to_json,
    ping_to_json,
    read_partially,
    webhook_to_json,
)
from gateway.errors import (
    ConfigError,
    FieldProblem,
    GatewayError,
    InvalidRequest,
    NotFound,
    Unsupported,
)
from gateway.model import UNSET, Webhook, WebhookChange, WebhookSpec
from gateway.operations import listing
from gateway.operations.base import Items, OperationsBase
from gateway.operations.principal import Principal
from gateway.service import Account

__all__ = ["Rotated", "WebhookAnswer", "WebhookOperations"]

T = TypeVar("T", WebhookSpec, WebhookChange)


@attrs.frozen
class WebhookAnswer:
    """One webhook as the caller may see it (``masked``: credentials in URLs hidden)."""

    webhook: Webhook
    masked: bool

    def to_json(self) -> dict[str, Any]:
        return webhook_to_json(self.webhook, mask_credentials=self.masked)


@attrs.frozen
class Rotated:
    """A rotation's answer: the webhook, and until when the previous secret still verifies."""

    id: str
    previous_valid_until: float | None

    def to_json(self) -> dict[str, Any]:
        until = self.previous_valid_until
        return {"rotated": self.id,
                "previous_valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
                if until is not None else None}  # fmt: skip


_ROTATE_FIELDS = frozenset({"secret", "previous", "grace_hours"})


class WebhookOperations(OperationsBase):
    async def accounts(self, who: Principal) -> Items:
        """The accounts ``who`` may read something of."""
        return Items([{"name": a.name, "provider": a.provider, "title": a.title,
                       "capabilities": capabilities_to_json(a.capabilities)}
                      for a in self.gw.accounts() if who.may_on("read", a.name)])  # fmt: skip

    async def event_types(self, who: Principal, account: str) -> Items:
        target = self._account(account, who)
        types = await self._call(target, "event_types", target.event_types())
        return Items([event_type_to_json(t) for t in types])

    async def list_page(
        self,
        who: Principal,
        account: str | None,
        query: Mapping[str, str],
        *,
        only: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """One page of one account's webhooks, or (``account`` None) of every account's
        (``only``: those of them), for the API's query (filters, ``limit``, ``cursor``)."""

        def measure(kind: str, name: str, call: Any) -> Any:
            return self.observe(kind, name, "list", call)

        if account is not None:
            self._account(account, who)  # a 404 before the query is read
            await self._known_event(query.get("event"), [account])
            masked = not who.sees_credentials_on(account)
            q = listing.read_query(query, listing.scope_of(account, ()))
            page = await listing.one_account_page(
                self.gw, account, q, self.cursors, masked, measure, self.read_ahead, self.held
            )
            return _readable(who, page)
        names = [i.name for i in self.gw.accounts()
                 if (only is None or i.name in only) and who.may_on("read", i.name)]  # fmt: skip
        await self._known_event(query.get("event"), names)
        masked = not all(who.sees_credentials_on(name) for name in names)
        q = listing.read_query(query, listing.scope_of(None, names))
        page = await listing.all_accounts_page(
            self.gw, q, self.cursors, masked, measure, self.fanout, only=names
        )
        return _readable(who, page)

    async def list_all(
        self, who: Principal, account: str | None, filters: Mapping[str, Any]
    ) -> Items:
        """Every page of ``list_page`` followed to its end (``listing.follow_pages``)."""
        found = await listing.follow_pages(
            lambda query: self.list_page(who, account, query), filters
        )
        return Items(found["items"], found["errors"])

    async def get(self, who: Principal, account: str, id: str) -> WebhookAnswer:
        target = self._account(account, who)
        webhook = await self._call(target, "get", target.get(id))
        if not who.may("read", account, webhook.name):
            raise NotFound(f"webhook {id!r} not found", provider=target.kind, account=account)
        return WebhookAnswer(webhook, masked=not who.sees_credentials_on(account, webhook.name))

    async def create(
        self, who: Principal, account: str, body: Mapping[str, Any] | WebhookSpec
    ) -> WebhookAnswer:
        target = self._account(account, who)
        who.require_on("write", account, "creating a webhook")
        spec = await self._input(target, body, WebhookSpec)
        grant = who.require("write", "creating a webhook", account, spec.name)
        if spec.secret is not None:
            who.require("secrets", "setting a secret", account, spec.name)
        with who.acting(grant):
            webhook = await self._call(target, "create", target.create(spec))
            await self._fresh(target, webhook.id, webhook)
        return WebhookAnswer(webhook, masked=False)

    async def update(
        self,
        who: Principal,
        account: str,
        id: str,
        body: Mapping[str, Any] | WebhookChange,
        *,
        if_match: Collection[str] | None = None,
    ) -> WebhookAnswer:
        target = self._account(account, who)
        who.require_on("write", account, "updating a webhook")
        change = await self._input(target, body, WebhookChange)
        webhook, grant = await self._webhook_check(who, target, id, "write", "updating a webhook")
        if isinstance(change.name, str):  # renamed: the new name must be the caller's too
            who.require("write", "renaming a webhook", account, change.name)
        if change.secret is not UNSET:
            name = webhook.name if webhook is not None else None
            who.require("secrets", "setting a secret", account, name)
        with who.acting(grant):
            call = target.update(id, change, if_match=if_match)
            webhook = await self._call(target, "update", call)
            await self._fresh(target, webhook.id, webhook)
        return WebhookAnswer(webhook, masked=False)

    async def delete(
        self, who: Principal, account: str, id: str, *, if_match: Collection[str] | None = None
    ) -> None:
        target = self._account(account, who)
        _, grant = await self._webhook_check(who, target, id, "delete", "deleting a webhook")
        with who.acting(grant):
            await self._call(target, "delete", target.delete(id, if_match=if_match))
            await self._fresh(target, id, deleted=True)

    async def ping(self, who: Principal, account: str, id: str) -> dict[str, Any]:
        target = self._account(account, who)
        _, grant = await self._webhook_check(who, target, id, "write", "pinging a webhook")
        with who.acting(grant):
            return ping_to_json(await self._call(target, "ping", target.ping(id)))

    async def unsuspend(self, who: Principal, account: str, id: str) -> None:
        target = self._account(account, who)
        _, grant = await self._webhook_check(who, target, id, "write", "unsuspending a webhook")
        with who.acting(grant):
            await self._call(target, "unsuspend", target.unsuspend(id))
            await self._fresh(target, id)

    async def trigger_custom(self, who: Principal, account: str, data: Any) -> dict[str, Any]:
        """Send a custom event with ``data`` (a JSON object, at most ``MAX_CUSTOM_DATA`` bytes
        as JSON) through the provider, to test a receiver end to end (UiPath's
        ``TriggerCustom``); the provider's record of the event."""
        self._account(account, who)
        # The event goes to every webhook of the account that subscribes: the whole account.
        grant = who.require("write", "triggering a custom event", account)
        target = self._extra(account, "trigger_custom")
        if not isinstance(data, Mapping):
            raise InvalidRequest.at("", "the body must be a JSON object: the event's data")
        if len(orjson.dumps(data)) > MAX_CUSTOM_DATA:
            raise InvalidRequest.at("", f"the event's data must be at most {MAX_CUSTOM_DATA} "
                                    "bytes as JSON")  # fmt: skip
        with who.acting(grant):
            event: dict[str, Any] = await self._call(
                target, "trigger_custom", target.trigger_custom(data)
            )
            return event

    async def rotate(
        self, who: Principal, account: str, id: str, body: Mapping[str, Any]
    ) -> Rotated:
        """Set the new secret given; keep the previous one valid for verification for
        ``grace_hours`` (gateway.health.rotation). The answer never shows a secret."""
        from gateway.health.rotation import rotate_secret

        target = self._account(account, who)  # 404 before anything else
        who.require_on("secrets", account, "rotating a secret")
        secret, previous, grace = _rotation_input(body)
        _, grant = await self._webhook_check(who, target, id, "secrets", "rotating a secret")
        state = self.gw.config.state
        if state is None or state.secrets_key is None:
            raise ConfigError("rotation needs [state] with secrets_key (configuration.md)")
        with who.acting(grant):
            call = rotate_secret(self.gw, account, id, new=secret, previous=previous,
                                 grace=grace * 3600)  # fmt: skip
            rotated = await self._call(target, "rotate_secret", call)
        return Rotated(id, rotated.previous_valid_until)

    async def diverted(self, who: Principal, account: str, id: str) -> Items:
        self._account(account, who)
        target = self._extra(account, "list_diverted")
        await self._webhook_check(who, target, id, "read", "listing diverted events")

        async def collect() -> list[dict[str, Any]]:
            return [diverted_to_json(e) async for e in target.ex_list_diverted(id)]

        return Items(await self._call(target, "list_diverted", collect()))

    async def resend_diverted(self, who: Principal, account: str, id: str, event: str) -> Any:
        self._account(account, who)
        target = self._extra(account, "resend_diverted")
        _, grant = await self._webhook_check(who, target, id, "write", "resending a diverted event")
        with who.acting(grant):
            call = target.ex_resend_diverted(id, event)
            resent = await self._call(target, "resend_diverted", call)
            await self._fresh(target, id, diverted=True)
            return resent

    async def delete_diverted(self, who: Principal, account: str, id: str, event: str) -> None:
        self._account(account, who)
        target = self._extra(account, "delete_diverted")
        _, grant = await self._webhook_check(who, target, id, "delete", "deleting a diverted event")
        with who.acting(grant):
            await self._call(target, "delete_diverted", target.ex_delete_diverted(id, event))
            await self._fresh(target, id, diverted=True)

    async def input_problems(
        self, who: Principal, account: str, body: Mapping[str, Any], *, creating: bool
    ) -> list[FieldProblem]:
        """Every problem a create's (``creating``) or an update's JSON ``body`` has, as the
        API would answer them, the account's own included; nothing is written (a form that
        has problems of its own shows these beside them)."""
        target = self._account(account, who)
        cls: type[WebhookSpec] | type[WebhookChange] = WebhookSpec if creating else WebhookChange
        value, problems, bad = read_partially(body, cls)
        if isinstance(value, (WebhookSpec, WebhookChange)):
            problems += await target.input_problems(value, skip=bad)
        return problems

    # -- shared parts ------------------------------------------------------------------------

    async def _known_event(self, event: str | None, accounts: list[str]) -> None:
        """An ``event`` filter no account in scope can deliver is a typo, never an empty
        answer: ``InvalidRequest`` with the closest name. Accounts whose catalog is open
        (tenants add events) take any name."""
        if not event:
            return
        names: set[str] = set()
        for name in accounts:
            target = self._account(name)
            if not target.provider.strict_events:
                return
            try:
                types = await target.event_types()
            except GatewayError:  # an account that cannot say: the filter goes through
                return
            names |= {t.name for t in types}
        if event.casefold() not in {n.casefold() for n in names}:
            where = accounts[0] if len(accounts) == 1 else "any account in the listing"
            raise InvalidRequest.at("event", f"{event!r} is not an event of {where}"
                                    + did_you_mean(event, sorted(names)))  # fmt: skip

    def _extra(self, account: str, name: str) -> Account:
        """The account, if its provider offers the extra ``ex_{name}`` (else Unsupported)."""
        target = self._account(account)
        if not target.has_extra(name):
            raise Unsupported(target.kind, name.replace("_", " "), account=target.name)
        return target

    async def _input(self, target: Account, body: Mapping[str, Any] | T, cls: type[T]) -> T:
        """``body`` read as ``cls``; ``InvalidRequest`` with every problem the body has, the
        account's own included, in one answer."""
        if isinstance(body, cls):
            return body
        value, problems, bad = read_partially(body, cls)
        if not problems:
            assert value is not None
            return value
        if value is not None:  # a stand-in of the rest: what would the account say of it?
            problems += await target.input_problems(value, skip=bad)
        raise InvalidRequest(problems=problems, provider=target.kind, account=target.name)


def _readable(who: Principal, page: dict[str, Any]) -> dict[str, Any]:
    """``page`` without the webhooks ``who`` may not read (grants by webhook name)."""
    items = page.get("items", [])
    kept = [i for i in items if who.may("read", i.get("account", ""), i.get("name"))]
    return page if len(kept) == len(items) else {**page, "items": kept}


#: The largest custom event data sent (bytes of JSON).
MAX_CUSTOM_DATA = 32 * 1024


def _rotation_input(body: Any) -> tuple[str, str | None, float]:
    """The new secret, the previous one (if given) and the grace hours of a rotation's body;
    ``InvalidRequest`` with every problem at once."""
    if not isinstance(body, Mapping):
        raise InvalidRequest.at("", "the body must be a JSON object with the new secret")
    problems = [FieldProblem(k, "unknown field") for k in sorted(set(body) - _ROTATE_FIELDS)]
    secret = body.get("secret")
    if not isinstance(secret, str) or not secret:
        problems.append(FieldProblem("secret", "required: the new secret (it is never shown "
                                     "back)"))  # fmt: skip
    previous, grace = body.get("previous"), body.get("grace_hours", 24)
    if previous is not None and not isinstance(previous, str):
        problems.append(FieldProblem("previous", "must be a string"))
    if (isinstance(grace, bool) or not isinstance(grace, int | float) or not math.isfinite(grace)
            or not 0 <= grace <= 720):  # fmt: skip
        problems.append(FieldProblem("grace_hours", "must be a number from 0 to 720"))
    if problems:
        raise InvalidRequest(problems=problems)
    assert isinstance(secret, str)
    return secret, previous, float(grace)
