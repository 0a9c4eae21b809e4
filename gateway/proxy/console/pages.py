"""The console's pages that read: overview, webhooks across accounts, one webhook, the audit
log, health, and plan (a read key may plan)."""

from __future__ import annotations

import asyncio
import re
import time
import tomllib
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.codec import etag_of
from gateway.errors import GatewayError, InvalidRequest
from gateway.health.fresh import STALE_INTERVALS, stale_after
from gateway.health.meanings import MEANINGS
from gateway.health.states import health_state
from gateway.health.watch import rfc3339
from gateway.model import mask_url
from gateway.operations import Operations, PlanRequest, Principal, listing
from gateway.plan import Plan
from gateway.plan.text import confirm_prompt, deletions, line_kind, totals
from gateway.plan.text import render as plan_text
from gateway.proxy.appkeys import GATEWAY, OPERATIONS, PRINCIPAL
from gateway.proxy.console.base import render
from gateway.service import Gateway
from gateway.store import AuditQuery

__all__ = ["add_routes", "render_plan", "state_of"]

#: The console's page size for the webhooks table.
PAGE = 50


def add_routes(router: web.UrlDispatcher) -> None:
    """The pages' routes, under the console's ``/console`` prefix."""
    router.add_get("", overview)
    router.add_get("/webhooks", webhooks)
    router.add_get("/webhooks/{account}/{id}", webhook)
    router.add_get("/audit", audit)
    router.add_get("/health", health)
    router.add_get("/plan", plan_form)
    router.add_post("/plan", plan)


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def state_of(item: dict[str, Any]) -> str:
    """The health state of a webhook's JSON (watch may know more: diverting)."""
    return health_state(item["enabled"], item["suspended"])


async def overview(request: web.Request) -> web.StreamResponse:
    gw, ops, who = _parts(request)
    infos = _readable(gw, who)
    watched = list((await ops.health(who)).items) if gw.store is not None else []
    counts: dict[str, Counter[str]] = {info.name: Counter() for info in infos}
    errors: dict[str, str] = {}
    if watched:
        for row in watched:
            if row["account"] in counts:
                counts[row["account"]][row["state"]] += 1
                if row["diverted"]:
                    counts[row["account"]]["diverting"] += 1
                if row["drift"]:
                    counts[row["account"]]["drift"] += 1
    else:  # not watched yet: a look of the accounts' first pages, now

        async def one(name: str) -> None:
            try:
                found = await gw.account(name).list().page(None, 1000)
            except GatewayError as exc:
                errors[name] = str(exc)
                return
            for wh in found.webhooks:
                if who.may("read", name, wh.name):  # what the caller may not read: not there
                    counts[name][health_state(wh.enabled, wh.suspended)] += 1

        await asyncio.gather(*(one(info.name) for info in infos))
    latest = [t for t in (await gw.store.transitions(limit=50) if gw.store is not None else [])
              if who.may("read", t.account, t.name)][:10]  # fmt: skip
    accounts = [{"name": i.name, "provider": i.provider, "title": i.title,
                 "operations": sorted(i.capabilities.operations),
                 "custom": gw.account(i.name).has_extra("trigger_custom"),
                 "counts": counts[i.name], "error": errors.get(i.name)} for i in infos]  # fmt: skip
    oldest = min((row["seen_at"] for row in watched), default=None)
    return render(request, "overview.html", accounts=accounts, watched=bool(watched),
                  latest=latest, when=when, oldest=oldest,
                  oldest_rfc=rfc3339(oldest) if oldest is not None else "",
                  stale=sum(1 for row in watched if row["stale"]),
                  stale_after=_span(stale_after(gw)),
                  states=("active", "disabled", "suspended", "diverting", "drift"))  # fmt: skip


_STATES = {"active": {"enabled": "true", "suspended": "false"},
           "disabled": {"enabled": "false"}, "suspended": {"suspended": "true"}}  # fmt: skip


async def webhooks(request: web.Request) -> web.StreamResponse:
    """One table of every account's webhooks, with the API's filters and cursors."""
    gw, ops, who = _parts(request)
    q = request.query
    chosen = {k: q[k].strip() for k in ("account", "provider", "state", "event", "name", "q")
              if q.get(k, "").strip()}  # fmt: skip
    filters = {k: v for k, v in chosen.items() if k in ("event", "name")}
    if chosen.get("state") in _STATES:
        filters |= _STATES[chosen["state"]]
    elif "state" in chosen:
        raise InvalidRequest.at("state", "must be active, disabled or suspended")
    names = [i.name for i in gw.accounts()
             if chosen.get("account") in (None, i.name)
             and chosen.get("provider") in (None, i.provider)]  # fmt: skip
    if "q" in chosen:  # a search: every page, the webhooks whose name, URL or events match
        found = await listing.follow_pages(
            lambda query: ops.list_page(who, None, query, only=names), filters
        )
        needle = chosen["q"].casefold()
        found["items"] = [i for i in found["items"] if needle in i["name"].casefold()
                          or needle in i["url"].casefold()
                          or any(needle in e.casefold() for e in i.get("events", []))]  # fmt: skip
        found["next_cursor"] = None
    else:
        query = {**filters, "limit": str(PAGE),
                 **({"cursor": q["cursor"]} if "cursor" in q else {})}  # fmt: skip
        found = await ops.list_page(who, None, query, only=names)
    rows = [{**item, "state": state_of(item), "masked_url": mask_url(item["url"])}
            for item in found["items"]]  # fmt: skip
    infos = _readable(gw, who)
    return render(request, "webhooks.html", rows=rows, errors=found["errors"], chosen=chosen,
                  next_cursor=found["next_cursor"], accounts=[i.name for i in infos],
                  providers=sorted({i.provider for i in infos}))  # fmt: skip


def _readable(gw: Gateway, who: Principal) -> list[Any]:
    """The accounts ``who`` may read something of: the others are not shown, even by name."""
    return [i for i in gw.accounts() if who.may_on("read", i.name)]


def _parts(request: web.Request) -> tuple[Gateway, Operations, Principal]:
    """The gateway, its operations, and who is asking (the session's key)."""
    return request.config_dict[GATEWAY], request.config_dict[OPERATIONS], request[PRINCIPAL]


async def webhook(request: web.Request) -> web.StreamResponse:
    gw, ops, who = _parts(request)
    name, id = request.match_info["account"], request.match_info["id"]
    account = gw.account(name)
    found = await ops.get(who, name, id)
    shown = found.to_json()
    diverted: list[dict[str, Any]] = []
    if account.has_extra("list_diverted"):
        diverted = list((await ops.diverted(who, name, found.webhook.id)).items)
    history, writes = [], []
    if gw.store is not None:
        history = await gw.store.transitions(name, found.webhook.id, limit=50)
        writes = await gw.store.audit(
            AuditQuery(account=name, webhook_id=found.webhook.id, limit=50)
        )
    seen = None
    if gw.store is not None:  # what health knows of it (watch's look or the gateway's write)
        rows = await gw.store.health(name, found.webhook.id)
        if rows:
            seen = {"at": rows[0].seen_at, "rfc": rfc3339(rows[0].seen_at),
                    "stale": time.time() - rows[0].seen_at > stale_after(gw)}  # fmt: skip
    catalog = sorted(t["name"] for t in (await ops.event_types(who, name)).items)
    return render(request, "webhook.html", account=account.info, webhook=shown,
                  etag=etag_of(found.webhook), state=state_of(shown), diverted=diverted,
                  history=history, writes=writes, when=when, catalog=catalog,
                  can=account.capabilities.operations, note=_note(request.query.get("note")),
                  diverts=account.has_extra("resend_diverted"), seen=seen)  # fmt: skip


def _note(text: str | None) -> str | None:
    """The outcome line an action redirects with (``?note=``): shown only as the console's own
    short notes look, so a crafted link cannot put a message of its choosing on the page."""
    if text and len(text) <= 200 and re.fullmatch(r"[\w .:()-]+", text) and "//" not in text:
        return text
    return None


async def audit(request: web.Request) -> web.StreamResponse:
    gw, ops, who = _parts(request)
    names = ("account", "webhook", "actor", "since", "cursor")
    chosen = {k: request.query[k].strip() for k in names if request.query.get(k, "").strip()}
    if gw.store is None:
        return render(request, "error.html", 501, message="the audit log needs a state store")
    found = await ops.audit(who, {**chosen, "limit": "100"})
    return render(request, "audit.html", items=found["items"], chosen=chosen,
                  next_cursor=found["next_cursor"])  # fmt: skip


async def health(request: web.Request) -> web.StreamResponse:
    gw, ops, who = _parts(request)
    if gw.store is None:
        return render(request, "error.html", 501, message="health needs a state store")
    account = request.query.get("account") or None
    rows = (await ops.health(who, account)).items
    timeline = [t for t in await gw.store.transitions(account, limit=200)
                if who.may("read", t.account, t.name)]  # fmt: skip
    return render(request, "health.html", rows=rows, timeline=timeline, when=when,
                  meanings=MEANINGS, stale_after=_span(stale_after(gw)),
                  interval=_span(stale_after(gw) / STALE_INTERVALS))  # fmt: skip


def _span(seconds: float) -> str:
    """A duration as a person says it: ``30 s``, ``10 min``, ``2 h``."""
    whole = int(seconds)
    if whole % 3600 == 0:
        return f"{whole // 3600} h"
    return f"{whole // 60} min" if whole % 60 == 0 else f"{whole} s"


async def plan_form(request: web.Request) -> web.StreamResponse:
    return render(request, "plan.html", manifest="", plan=None, text=None, problems=[],
                  adopt=False)  # fmt: skip


async def plan(request: web.Request) -> web.StreamResponse:
    """Plan a pasted or uploaded manifest (TOML; secrets given as ``secret``, write-only)."""
    form = await request.post()
    upload = form.get("file")
    text = str(form.get("manifest", ""))
    if isinstance(upload, web.FileField) and upload.filename:
        text = upload.file.read().decode("utf-8", "replace")
    adopt = form.get("adopt") == "on"
    made, problems = await plan_of(request, text, adopt)
    return render_plan(request, text, adopt, made, problems)


def render_plan(request: web.Request, manifest: str, adopt: bool, made: Plan | None,
                problems: list[str], status: int = 200) -> web.Response:  # fmt: skip
    """The plan page: the manifest, what stops it, and the plan with its writes coloured by
    kind, their counts in the heading, and a plan that deletes asking for the count typed."""
    if made is None:
        return render(request, "plan.html", status, manifest=manifest, adopt=adopt, plan=None,
                      text=None, problems=problems)  # fmt: skip
    lines = [(line_kind(line), line) for line in plan_text(made).splitlines()]
    deleting, _ = deletions(made)
    return render(request, "plan.html", status, manifest=manifest, adopt=adopt,
                  problems=problems, plan=made.to_json(), text=True, lines=lines,
                  totals=totals(made), deleting=deleting,
                  prompt=confirm_prompt(made) if deleting else "")  # fmt: skip


async def plan_of(request: web.Request, text: str, adopt: bool) -> tuple[Any, list[str]]:
    """The plan of manifest ``text``, or the problems that stop it."""
    _, ops, who = _parts(request)
    try:
        return await ops.plan(who, PlanRequest(manifest=tomllib.loads(text), adopt=adopt)), []
    except (tomllib.TOMLDecodeError, InvalidRequest) as exc:
        return None, problems_of(exc)


def problems_of(exc: tomllib.TOMLDecodeError | InvalidRequest) -> list[str]:
    """What stops a manifest, a line each (paths within the manifest)."""
    if isinstance(exc, tomllib.TOMLDecodeError):
        return [f"not valid TOML: {exc}"]
    return [str(p).removeprefix("manifest.") for p in exc.problems] or [exc.message]
