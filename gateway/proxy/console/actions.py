"""The console's writes (a write key, the session's CSRF token on every form): enable, disable,
add and remove an event, ping, unsuspend, resend or delete a diverted event, rotate a secret,
delete a webhook (after a confirmation naming it), and apply a shown plan (by its fingerprint).

Each goes through the account client as the HTTP API's routes do, audited under the key's name;
an update sends the ETag of the page it came from, so a page loaded before a change says so
instead of overwriting it."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from gateway.errors import InvalidRequest, PreconditionFailed
from gateway.model import WebhookChange
from gateway.plan import apply_plan
from gateway.plan.text import render as plan_text
from gateway.proxy.appkeys import GATEWAY
from gateway.proxy.console.base import page, redirect, render
from gateway.proxy.console.pages import plan_of

__all__ = ["add_routes"]

BASE = "/console/webhooks/{account}/{id}"


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(f"{BASE}/update", update)
    router.add_post(f"{BASE}/ping", ping)
    router.add_post(f"{BASE}/unsuspend", unsuspend)
    router.add_post(f"{BASE}/rotate", rotate)
    router.add_get(f"{BASE}/delete", delete_form)
    router.add_post(f"{BASE}/delete", delete)
    router.add_post(f"{BASE}/diverted/{{event}}/{{action}}", diverted)
    router.add_post("/console/apply", apply)


def _back(request: web.Request, note: str | None = None) -> web.StreamResponse:
    account, id = request.match_info["account"], request.match_info["id"]
    target = f"/console/webhooks/{quote(account, safe='')}/{quote(id, safe='')}"
    return redirect(target + (f"?{urlencode({'note': note})}" if note else ""))


@page(write=True)
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
    account = request.app[GATEWAY].account(request.match_info["account"])
    try:
        await account.update(request.match_info["id"], changes[op],
                             if_match=[str(etag)] if etag else None)  # fmt: skip
    except PreconditionFailed:
        return render(request, "error.html", 412,
                      message="the webhook changed since you loaded it: nothing was written; "
                      "reload it and try again")  # fmt: skip
    return _back(request, f"{op.replace('_', ' ')}: done")


@page(write=True)
async def ping(request: web.Request) -> web.StreamResponse:
    account = request.app[GATEWAY].account(request.match_info["account"])
    result = await account.ping(request.match_info["id"])
    return _back(request, f"ping sent: event {result.event_id}")


@page(write=True)
async def unsuspend(request: web.Request) -> web.StreamResponse:
    account = request.app[GATEWAY].account(request.match_info["account"])
    await account.unsuspend(request.match_info["id"])
    return _back(request, "unsuspended")


@page(write=True)
async def rotate(request: web.Request) -> web.StreamResponse:
    """A new secret (made here), the previous one valid for the grace period; the new one is
    on the answer page once, behind a reveal, and never stored or shown again."""
    from gateway.health.rotation import rotate_secret

    form = await request.post()
    try:
        grace = float(str(form.get("grace_hours", "24")))
    except ValueError:
        raise InvalidRequest.at("grace_hours", "must be a number of hours") from None
    fresh = secrets.token_urlsafe(32)
    name, id = request.match_info["account"], request.match_info["id"]
    rotated = await rotate_secret(request.app[GATEWAY], name, id, new=fresh, grace=grace * 3600)
    return render(request, "rotated.html", secret=fresh, account=name, id=id,
                  until=rotated.previous_valid_until)  # fmt: skip


@page(write=True)
async def delete_form(request: web.Request) -> web.StreamResponse:
    account = request.app[GATEWAY].account(request.match_info["account"])
    found = await account.get(request.match_info["id"])
    return render(request, "delete.html", account=account.name, webhook=found, mismatch=False)


@page(write=True)
async def delete(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    account = request.app[GATEWAY].account(request.match_info["account"])
    found = await account.get(request.match_info["id"])
    if str(form.get("confirm", "")) != found.name:
        return render(request, "delete.html", 400, account=account.name, webhook=found,
                      mismatch=True)  # fmt: skip
    await account.delete(found.id)
    return redirect("/console/webhooks?deleted=" + found.id)


@page(write=True)
async def diverted(request: web.Request) -> web.StreamResponse:
    account = request.app[GATEWAY].account(request.match_info["account"])
    id, event, action = (request.match_info[k] for k in ("id", "event", "action"))
    if action == "resend":
        await account.ex_resend_diverted(id, event)
    elif action == "delete":
        await account.ex_delete_diverted(id, event)
    else:
        raise web.HTTPNotFound()
    return _back(request, f"diverted event {event}: {action} done")


@page(write=True)
async def apply(request: web.Request) -> web.StreamResponse:
    """Apply the plan that was shown: planned again, applied only if its fingerprint is the
    shown one's."""
    form = await request.post()
    text, adopt = str(form.get("manifest", "")), form.get("adopt") == "on"
    made, problems = await plan_of(request, text, adopt)
    if made is None:
        return render(request, "plan.html", manifest=text, adopt=adopt, problems=problems,
                      plan=None, text=None)  # fmt: skip
    if made.fingerprint != form.get("fingerprint"):
        return render(request, "plan.html", 409, manifest=text, adopt=adopt,
                      problems=["the plan changed since it was shown: nothing was applied; "
                                "review the plan below and apply it again"],
                      plan=made.to_json(), text=plan_text(made))  # fmt: skip
    report: Any = await apply_plan(request.app[GATEWAY], made)
    return render(request, "applied.html", report=report.to_json())
