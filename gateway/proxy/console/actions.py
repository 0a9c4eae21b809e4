"""The console's writes (the session's CSRF token on every form): enable, disable, add and
remove an event, ping, unsuspend, resend or delete a diverted event, rotate a secret, delete a
webhook (after a confirmation naming it), apply a shown plan (by its fingerprint), and send a
custom event (UiPath) to test a receiver.

Each calls the same operation as the HTTP API's route (``gateway.operations``), as the
session's key: who may write is decided there, and the audit log names the key. An update
sends the ETag of the page it came from, so a page loaded before a change says so instead of
overwriting it."""

from __future__ import annotations

import json
import secrets
import tomllib
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from gateway.access import grant_of_text
from gateway.errors import InvalidRequest, PreconditionFailed
from gateway.model import WebhookChange
from gateway.operations import PlanChanged, PlanRequest
from gateway.plan import Plan
from gateway.plan.text import delete_confirmed, deletions
from gateway.proxy.appkeys import OPERATIONS, PRINCIPAL
from gateway.proxy.console.base import redirect, render, reveals, writes
from gateway.proxy.console.pages import problems_of, render_plan

__all__ = ["add_routes"]

BASE = "/webhooks/{account}/{id}"


def add_routes(router: web.UrlDispatcher) -> None:
    """The actions' routes, under the console's ``/console`` prefix."""
    router.add_post(f"{BASE}/update", update)
    router.add_post(f"{BASE}/ping", ping)
    router.add_post(f"{BASE}/unsuspend", unsuspend)
    router.add_post(f"{BASE}/rotate", rotate)
    router.add_get(f"{BASE}/delete", delete_form)
    router.add_post(f"{BASE}/delete", delete)
    router.add_post(f"{BASE}/diverted/{{event}}/{{action}}", diverted)
    router.add_post("/apply", apply)
    router.add_post("/accounts/{account}/custom-event", custom_event)
    router.add_get("/keys", keys_page)
    router.add_post("/keys", issue_key)
    router.add_post("/keys/{id}/revoke", revoke_key)


def _back(request: web.Request, note: str | None = None) -> web.StreamResponse:
    account, id = request.match_info["account"], request.match_info["id"]
    target = f"/console/webhooks/{quote(account, safe='')}/{quote(id, safe='')}"
    return redirect(target + (f"?{urlencode({'note': note})}" if note else ""))


def _where(request: web.Request) -> tuple[str, str]:
    return request.match_info["account"], request.match_info["id"]


@writes
async def update(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    op, event, etag = str(form.get("op", "")), str(form.get("event", "")), form.get("etag")
    changes: dict[str, WebhookChange] = {
        "enable": WebhookChange(enabled=True),
        "disable": WebhookChange(enabled=False),
    }
    if op in ("add_event", "remove_event"):
        if not event:
            raise InvalidRequest.at("event", "choose an event")
        one = frozenset({event})
        changes[op] = (WebhookChange(add_events=one) if op == "add_event"
                       else WebhookChange(remove_events=one))  # fmt: skip
    if op not in changes:
        raise InvalidRequest.at("op", "not an action of this page")
    try:
        await request.config_dict[OPERATIONS].update(
            request[PRINCIPAL], *_where(request), changes[op],
            if_match=[str(etag)] if etag else None,
        )  # fmt: skip
    except PreconditionFailed:
        return render(request, "error.html", 412,
                      message="the webhook changed since you loaded it: nothing was written; "
                      "reload it and try again")  # fmt: skip
    return _back(request, f"{op.replace('_', ' ')}: done")


@writes
async def ping(request: web.Request) -> web.StreamResponse:
    result = await request.config_dict[OPERATIONS].ping(request[PRINCIPAL], *_where(request))
    return _back(request, f"ping sent: event {result['event_id']}")


@writes
async def custom_event(request: web.Request) -> web.StreamResponse:
    """A custom event through the provider (UiPath's TriggerCustom), its data from the form."""
    form = await request.post()
    try:
        data = json.loads(str(form.get("data", "{}")) or "{}")
    except ValueError:
        raise InvalidRequest.at("data", "is not JSON: give a JSON object") from None
    account = request.match_info["account"]
    event = await request.config_dict[OPERATIONS].trigger_custom(request[PRINCIPAL], account, data)
    return render(request, "custom_event.html", account=account, event=event)


@writes
async def unsuspend(request: web.Request) -> web.StreamResponse:
    await request.config_dict[OPERATIONS].unsuspend(request[PRINCIPAL], *_where(request))
    return _back(request, "unsuspended")


@writes
@reveals
async def rotate(request: web.Request) -> web.StreamResponse:
    """A new secret (made here), the previous one valid for the grace period; the new one is
    on the answer page once, behind a reveal, and never stored or shown again."""
    form = await request.post()
    try:
        grace = float(str(form.get("grace_hours", "24")))
    except ValueError:
        raise InvalidRequest.at("grace_hours", "must be a number of hours") from None
    fresh = secrets.token_urlsafe(32)
    name, id = _where(request)
    rotated = await request.config_dict[OPERATIONS].rotate(
        request[PRINCIPAL], name, id, {"secret": fresh, "grace_hours": grace}
    )
    return render(request, "rotated.html", secret=fresh, account=name, id=id,
                  until=rotated.previous_valid_until)  # fmt: skip


@writes
async def delete_form(request: web.Request) -> web.StreamResponse:
    found = await request.config_dict[OPERATIONS].get(request[PRINCIPAL], *_where(request))
    return render(request, "delete.html", account=request.match_info["account"],
                  webhook=found.webhook, mismatch=False)  # fmt: skip


@writes
async def delete(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    ops, who, (name, id) = request.config_dict[OPERATIONS], request[PRINCIPAL], _where(request)
    found = (await ops.get(who, name, id)).webhook
    if str(form.get("confirm", "")) != found.name:
        return render(request, "delete.html", 400, account=name, webhook=found,
                      mismatch=True)  # fmt: skip
    await ops.delete(who, name, found.id)
    return redirect("/console/webhooks?deleted=" + found.id)


@writes
async def diverted(request: web.Request) -> web.StreamResponse:
    ops, who = request.config_dict[OPERATIONS], request[PRINCIPAL]
    id, event, action = (request.match_info[k] for k in ("id", "event", "action"))
    name = request.match_info["account"]
    if action == "resend":
        await ops.resend_diverted(who, name, id, event)
    elif action == "delete":
        await ops.delete_diverted(who, name, id, event)
    else:
        raise web.HTTPNotFound()
    return _back(request, f"diverted event {event}: {action} done")


class _Unconfirmed(Exception):
    """The plan's deletes were not confirmed as asked: nothing was applied."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan


@writes
async def apply(request: web.Request) -> web.StreamResponse:
    """Apply the plan that was shown: planned again, applied only if its fingerprint is the
    shown one's (``Operations.apply``) and, when it deletes, the person typed how many (or the
    one account's name), as a single delete asks for the webhook's name."""
    form = await request.post()
    text, adopt = str(form.get("manifest", "")), form.get("adopt") == "on"
    shown, typed = str(form.get("fingerprint", "")), str(form.get("confirm", ""))

    def confirmed(made: Plan) -> None:
        if not delete_confirmed(made, typed):
            raise _Unconfirmed(made)

    try:
        wanted = PlanRequest(manifest=tomllib.loads(text), adopt=adopt, plan_fingerprint=shown)
        applied = await request.config_dict[OPERATIONS].apply(request[PRINCIPAL], wanted,
                                                              confirm=confirmed)  # fmt: skip
    except (tomllib.TOMLDecodeError, InvalidRequest) as exc:
        return render_plan(request, text, adopt, None, problems_of(exc))
    except _Unconfirmed as refused:
        count, _ = deletions(refused.plan)
        what = f"{typed.strip()!r} was typed" if typed.strip() else "nothing was typed"
        return render_plan(request, text, adopt, refused.plan,
                           [f"this plan deletes {count} webhook(s) and {what}: nothing was "
                            "applied"], 422)  # fmt: skip
    except PlanChanged as changed:
        return render_plan(request, text, adopt, changed.current,
                           ["the plan changed since it was shown: nothing was applied; "
                            "review the plan below and apply it again"], 409)  # fmt: skip
    return render(request, "applied.html", report=applied.report.to_json())


async def keys_page(request: web.Request, message: str | None = None) -> web.StreamResponse:
    """The keys issued at run time (an ``admin``'s page)."""
    found = await request.config_dict[OPERATIONS].keys(request[PRINCIPAL])
    return render(request, "keys.html", items=found.items, message=message)


@writes
@reveals
async def issue_key(request: web.Request) -> web.StreamResponse:
    """A key for a service, shown on the answer page once (behind a reveal), never stored."""
    form = await request.post()
    body: dict[str, Any] = {"name": str(form.get("name", "")).strip()}
    if str(form.get("team", "")).strip():
        body["team"] = str(form.get("team")).strip()
    lines = [line.strip() for line in str(form.get("grants", "")).splitlines()]
    body["grants"] = [grant_of_text(line) for line in lines if line]
    try:
        body["expires_in_days"] = float(str(form.get("expires_in_days", "90")) or "90")
    except ValueError:
        raise InvalidRequest.at("expires_in_days", "must be a number of days") from None
    issued = await request.config_dict[OPERATIONS].create_key(request[PRINCIPAL], body)
    return render(request, "issued.html", name=issued.key.name, id=issued.key.id,
                  key=issued.value)  # fmt: skip


@writes
async def revoke_key(request: web.Request) -> web.StreamResponse:
    key_id = request.match_info["id"]
    await request.config_dict[OPERATIONS].revoke_key(request[PRINCIPAL], key_id)
    return await keys_page(request, f"revoked {key_id}")
