"""The console's pages that read: overview, webhooks across accounts, one webhook, the audit
log, health, and plan (a read key may plan)."""

from __future__ import annotations

import asyncio
import re
import tomllib
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.codec import diverted_to_json, etag_of, webhook_to_json
from gateway.errors import ConfigError, GatewayError, InvalidRequest
from gateway.health.watch import health_rows, health_state
from gateway.model import Webhook, mask_url
from gateway.plan import make_plan, parse_manifest
from gateway.plan.text import render as plan_text
from gateway.proxy import listing
from gateway.proxy.appkeys import CONFIG, CURSORS, GATEWAY
from gateway.proxy.audit import audit_answer
from gateway.proxy.console.base import SESSION, page, render
from gateway.store import AuditQuery

__all__ = ["add_routes", "state_of"]

#: The console's page size for the webhooks table.
PAGE = 50


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/console", overview)
    router.add_get("/console/webhooks", webhooks)
    router.add_get("/console/webhooks/{account}/{id}", webhook)
    router.add_get("/console/audit", audit)
    router.add_get("/console/health", health)
    router.add_get("/console/plan", plan_form)
    router.add_post("/console/plan", plan)


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def state_of(item: dict[str, Any]) -> str:
    """The health state of a webhook's JSON (watch may know more: diverting)."""
    return health_state(item["enabled"], item["suspended"])


@page()
async def overview(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    infos = gw.accounts()
    watched = await health_rows(gw) if gw.store is not None else []
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
                counts[name][health_state(wh.enabled, wh.suspended)] += 1

        await asyncio.gather(*(one(info.name) for info in infos))
    latest = (await gw.store.transitions(limit=10)) if gw.store is not None else []
    accounts = [{"name": i.name, "provider": i.provider, "title": i.title,
                 "operations": sorted(i.capabilities.operations),
                 "counts": counts[i.name], "error": errors.get(i.name)} for i in infos]  # fmt: skip
    return render(request, "overview.html", accounts=accounts, watched=bool(watched),
                  latest=latest, when=when,
                  states=("active", "disabled", "suspended", "diverting", "drift"))  # fmt: skip


_STATES = {"active": {"enabled": "true", "suspended": "false"},
           "disabled": {"enabled": "false"}, "suspended": {"suspended": "true"}}  # fmt: skip


@page()
async def webhooks(request: web.Request) -> web.StreamResponse:
    """One table of every account's webhooks, with the API's filters and cursors."""
    gw = request.app[GATEWAY]
    q = request.query
    chosen = {k: q[k].strip() for k in ("account", "provider", "state", "event", "name")
              if q.get(k, "").strip()}  # fmt: skip
    filters = {k: v for k, v in chosen.items() if k in ("event", "name")}
    if chosen.get("state") in _STATES:
        filters |= _STATES[chosen["state"]]
    elif "state" in chosen:
        raise InvalidRequest.at("state", "must be active, disabled or suspended")
    names = [i.name for i in gw.accounts()
             if chosen.get("account") in (None, i.name)
             and chosen.get("provider") in (None, i.provider)]  # fmt: skip
    query = {**filters, "limit": str(PAGE), **({"cursor": q["cursor"]} if "cursor" in q else {})}
    scope = "console\n" + "\n".join(names)
    parsed = listing.read_query(query, scope)
    found = await listing.all_accounts_page(
        gw, parsed, request.app[CURSORS], True, _no_measure, 8, only=names
    )
    rows = [{**item, "state": state_of(item), "masked_url": mask_url(item["url"])}
            for item in found["items"]]  # fmt: skip
    infos = gw.accounts()
    return render(request, "webhooks.html", rows=rows, errors=found["errors"], chosen=chosen,
                  next_cursor=found["next_cursor"], accounts=[i.name for i in infos],
                  providers=sorted({i.provider for i in infos}))  # fmt: skip


async def _no_measure(kind: str, account: str, call: Any) -> Any:
    return await call


@page()
async def webhook(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    name, id = request.match_info["account"], request.match_info["id"]
    account = gw.account(name)
    found: Webhook = await account.get(id)
    shown = webhook_to_json(found, mask_urls=request[SESSION].scope != "write")
    diverted: list[dict[str, Any]] = []
    if account.has_extra("list_diverted"):
        diverted = [diverted_to_json(e) async for e in account.ex_list_diverted(found.id)]
    history, writes = [], []
    if gw.store is not None:
        history = await gw.store.transitions(name, found.id, limit=50)
        writes = await gw.store.audit(AuditQuery(account=name, webhook_id=found.id, limit=50))
    catalog = sorted(t.name for t in await account.event_types())
    return render(request, "webhook.html", account=account.info, webhook=shown,
                  etag=etag_of(found), state=state_of(shown), diverted=diverted,
                  history=history, writes=writes, when=when, catalog=catalog,
                  can=account.capabilities.operations, note=_note(request.query.get("note")),
                  diverts=account.has_extra("resend_diverted"))  # fmt: skip


def _note(text: str | None) -> str | None:
    """The outcome line an action redirects with (``?note=``): shown only as the console's own
    short notes look, so a crafted link cannot put a message of its choosing on the page."""
    if text and len(text) <= 200 and re.fullmatch(r"[\w .:()-]+", text) and "//" not in text:
        return text
    return None


@page()
async def audit(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    names = ("account", "webhook", "actor", "since", "cursor")
    chosen = {k: request.query[k].strip() for k in names if request.query.get(k, "").strip()}
    if gw.store is None:
        return render(request, "error.html", 501, message="the audit log needs a state store")
    found = await audit_answer({**chosen, "limit": "100"}, gw.store)
    return render(request, "audit.html", items=found["items"], chosen=chosen,
                  next_cursor=found["next_cursor"])  # fmt: skip


@page()
async def health(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    if gw.store is None:
        return render(request, "error.html", 501, message="health needs a state store")
    rows = await health_rows(gw, request.query.get("account") or None)
    timeline = await gw.store.transitions(request.query.get("account") or None, limit=200)
    return render(request, "health.html", rows=rows, timeline=timeline, when=when)


@page()
async def plan_form(request: web.Request) -> web.StreamResponse:
    return render(request, "plan.html", manifest="", plan=None, text=None, problems=[],
                  adopt=False)  # fmt: skip


@page()
async def plan(request: web.Request) -> web.StreamResponse:
    """Plan a pasted or uploaded manifest (TOML; secrets given as ``secret``, write-only)."""
    form = await request.post()
    upload = form.get("file")
    text = str(form.get("manifest", ""))
    if isinstance(upload, web.FileField) and upload.filename:
        text = upload.file.read().decode("utf-8", "replace")
    adopt = form.get("adopt") == "on"
    made, problems = await plan_of(request, text, adopt)
    return render(request, "plan.html", manifest=text, adopt=adopt, problems=problems,
                  plan=made.to_json() if made else None,
                  text=plan_text(made) if made else None)  # fmt: skip


async def plan_of(request: web.Request, text: str, adopt: bool) -> tuple[Any, list[str]]:
    """The plan of manifest ``text``, or the problems that stop it."""
    try:
        data = tomllib.loads(text)
        manifest = parse_manifest(data, request.app[CONFIG], inline_secrets=True)
    except tomllib.TOMLDecodeError as exc:
        return None, [f"not valid TOML: {exc}"]
    except ConfigError as exc:
        return None, [str(p) for p in exc.problems] or [exc.message]
    return await make_plan(request.app[GATEWAY], manifest, adopt=adopt), []
