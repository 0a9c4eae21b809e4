"""The console's create and edit forms: a person makes a webhook (name, URL, events chosen
from the account's catalog with a search, a signing secret generated and shown once, and the
fields only the account's provider has: headers, failure handling, TLS, extras) and edits
one (URL, name, description, headers, failure handling).

A form becomes the HTTP API's JSON body (``body_of``) and goes to the same operation
(``Operations.create``/``update``), so its validation messages are the API's, shown beside
the field their path names; nothing is written unless the whole body is valid. An edit sends
the ETag of the page it came from (a page loaded before a change says so)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from gateway.codec import etag_of, webhook_to_json
from gateway.errors import FieldProblem, InvalidRequest, PreconditionFailed
from gateway.model import DEFAULT_TRIGGERS
from gateway.provider import Capabilities
from gateway.proxy.appkeys import GATEWAY, OPERATIONS, PRINCIPAL
from gateway.proxy.console.base import redirect, render, reveals, writes

__all__ = ["add_routes", "body_of"]

Form = MultiDictProxy[Any] | MultiDict[Any]

#: The fields an edit changes (the rest stay as they are: events have their own controls on
#: the webhook's page, a secret its rotation).
EDITED = ("name", "url", "description", "headers", "failure_handling", "allow_insecure_ssl")
TRIGGERS = ("4xx", "5xx", "timeout")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/webhooks/new", new_form)
    router.add_post("/webhooks/new", create)
    router.add_get("/webhooks/{account}/{id}/edit", edit_form)
    router.add_post("/webhooks/{account}/{id}/edit", edit)


def _writable(request: web.Request) -> list[Any]:
    """The accounts the person may create webhooks in, with what each provider has."""
    gw, who = request.config_dict[GATEWAY], request[PRINCIPAL]
    return [i for i in gw.accounts() if who.may_on("write", i.name) and "create" in
            i.capabilities.operations]  # fmt: skip


async def _catalog(request: web.Request, account: str) -> list[str]:
    ops, who = request.config_dict[OPERATIONS], request[PRINCIPAL]
    return sorted(t["name"] for t in (await ops.event_types(who, account)).items)


@writes
async def new_form(request: web.Request) -> web.StreamResponse:
    accounts = _writable(request)
    if not accounts:
        raise request[PRINCIPAL].refuse("write", "creating a webhook")
    names = [a.name for a in accounts]
    chosen = request.query.get("account", names[0])
    if chosen not in names:
        chosen = names[0]
    return await _render_new(request, accounts, chosen, {"secret_mode": "generate"}, {})


async def _render_new(request: web.Request, accounts: list[Any], chosen: str,
                      values: Mapping[str, Any], errors: Mapping[str, list[str]],
                      status: int = 200) -> web.Response:  # fmt: skip
    info = next(a for a in accounts if a.name == chosen)
    return render(request, "webhook_form.html", status, creating=True, accounts=accounts,
                  account=info, caps=info.capabilities, catalog=await _catalog(request, chosen),
                  values=values, errors=errors, triggers=TRIGGERS,
                  action="/console/webhooks/new", stale=False)  # fmt: skip


@writes
@reveals
async def create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    accounts = _writable(request)
    name = str(form.get("account", ""))
    if name not in [a.name for a in accounts]:
        raise request[PRINCIPAL].refuse("write", "creating a webhook", name or "no account")
    info = next(a for a in accounts if a.name == name)
    values = _values(form)
    generated = None
    ops, who = request.config_dict[OPERATIONS], request[PRINCIPAL]
    try:
        body, problems = body_of(form, info.capabilities, creating=True)
        if problems:  # the form's own, and what the API says of the rest, at once
            problems += await ops.input_problems(who, name, body, creating=True)
            raise InvalidRequest(problems=problems)
        if form.get("secret_mode") == "generate" and "secret" in info.capabilities.fields:
            generated = body["secret"] = secrets.token_urlsafe(32)
        made = await ops.create(who, name, body)
    except InvalidRequest as exc:
        return await _render_new(request, accounts, name, values, _by_field(exc), 422)
    page = _page(name, made.webhook.id)
    if generated is None:
        return redirect(page + "?" + urlencode({"note": "created"}))
    return render(request, "created.html", account=name, webhook=made.webhook, page=page,
                  secret=generated)  # fmt: skip


@writes
async def edit_form(request: web.Request) -> web.StreamResponse:
    name, id = request.match_info["account"], request.match_info["id"]
    found = await request.config_dict[OPERATIONS].get(request[PRINCIPAL], name, id)
    values = _values_of(webhook_to_json(found.webhook, mask_credentials=found.masked))
    return _render_edit(request, name, found.webhook, etag_of(found.webhook), values, {})


def _render_edit(request: web.Request, name: str, webhook: Any, etag: str,
                 values: Mapping[str, Any], errors: Mapping[str, list[str]],
                 status: int = 200, stale: bool = False) -> web.Response:  # fmt: skip
    info = request.config_dict[GATEWAY].account(name).info
    path = _page(name, webhook.id)
    return render(request, "webhook_form.html", status, creating=False, account=info,
                  caps=info.capabilities, webhook=webhook, etag=etag, values=values,
                  errors=errors, triggers=TRIGGERS, action=f"{path}/edit", page=path,
                  stale=stale, catalog=[])  # fmt: skip


@writes
async def edit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    ops, who = request.config_dict[OPERATIONS], request[PRINCIPAL]
    name, id = request.match_info["account"], request.match_info["id"]
    current = (await ops.get(who, name, id)).webhook
    caps = request.config_dict[GATEWAY].account(name).capabilities
    etag = str(form.get("etag", ""))
    values = _values(form)
    try:
        body, problems = body_of(form, caps, creating=False)
        body = _changed(body, current, caps)
        if problems:
            problems += await ops.input_problems(who, name, body, creating=False)
            raise InvalidRequest(problems=problems)
        if not body:
            return redirect(_page(name, current.id) + "?" + urlencode({"note": "nothing changed"}))
        await ops.update(who, name, current.id, body, if_match=[etag] if etag else None)
    except InvalidRequest as exc:
        return _render_edit(request, name, current, etag, values, _by_field(exc), 422)
    except PreconditionFailed:  # changed since the page was loaded: show what is there now
        return _render_edit(request, name, current, etag_of(current), values, {}, 412,
                            stale=True)  # fmt: skip
    return redirect(_page(name, current.id) + "?" + urlencode({"note": "saved"}))


def _page(account: str, id: str) -> str:
    return f"/console/webhooks/{quote(account, safe='')}/{quote(id, safe='')}"


def _changed(body: dict[str, Any], current: Any, caps: Capabilities) -> dict[str, Any]:
    """The fields of an edit's ``body`` that differ from the webhook as it is (a form sends
    every field; the update carries only what the person changed)."""
    shown = webhook_to_json(current)
    was, _ = body_of(MultiDict(_pairs(_values_of(shown))), caps, creating=False)
    changed = {k: v for k, v in body.items() if was.get(k) != v}
    fh = shown.get("failure_handling") or {}
    if "failure_handling" in changed and fh.get("alert_endpoint"):
        raise InvalidRequest(problems=[FieldProblem(
            "failure_handling", "this webhook has an alert endpoint, which this form does not "
            "edit: change its failure handling through the API or a manifest")])  # fmt: skip
    return changed


def _pairs(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Form values as the form's pairs (a list value: one pair each)."""
    return [(k, str(x)) for k, v in values.items()
            for x in (v if isinstance(v, list) else [v])]  # fmt: skip


# -- the form and the API's body -------------------------------------------------------------


def body_of(
    form: Form, caps: Capabilities, *, creating: bool
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The HTTP API's JSON body of a create (``creating``) or edit form, with the fields the
    account's provider has, and the problems the form itself has (a header line without a
    colon, a number that is not one), by the API's field paths (a part with a problem is
    left out of the body)."""
    fields = caps.fields
    problems: list[FieldProblem] = []
    body: dict[str, Any] = {"name": _text(form, "name"), "url": _text(form, "url")}
    if "description" in fields:
        description = _text(form, "description")
        if description or not creating:
            body["description"] = description or None
    if creating:
        if "all_events" in fields and form.get("all_events") == "on":
            body["all_events"] = True
        else:
            body["events"] = sorted({str(e) for e in form.getall("events", []) if str(e)})
        if "enabled" in fields:
            body["enabled"] = form.get("enabled") == "on"
        if form.get("secret_mode") == "own" and "secret" in fields:
            body["secret"] = str(form.get("secret", ""))
        for extra in sorted(caps.extras):
            value = _text(form, f"extras.{extra}")
            if value:
                body.setdefault("extras", {})[extra] = value
    if "headers" in fields:
        headers = _headers(str(form.get("headers", "")), problems)
        if headers is not None:
            body["headers"] = headers
    if "allow_insecure_ssl" in fields:
        body["allow_insecure_ssl"] = form.get("allow_insecure_ssl") == "on"
    if "failure_handling" in fields:
        body["failure_handling"] = _failure_handling(form, problems)
    return body, problems


def _text(form: Form, name: str) -> str:
    return str(form.get(name, "")).strip()


def _headers(text: str, problems: list[FieldProblem]) -> dict[str, list[str]] | None:
    """``Name: value`` lines (a name given twice: two values); None when a line is not."""
    found: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            problems.append(FieldProblem("headers", f"line {number}: write it as Name: value"))
            continue
        found.setdefault(name.strip(), []).append(value.strip())
    return None if any(p.path == "headers" for p in problems) else found


def _failure_handling(form: Form, problems: list[FieldProblem]) -> dict[str, Any] | None:
    """The form's failure handling: None (the provider's default) unless something is set."""
    triggers = sorted(str(t) for t in form.getall("fh.triggers", []))
    divert, suspend = form.get("fh.divert") == "on", form.get("fh.suspend") == "on"
    retry = str(form.get("fh.retry", ""))
    if not divert and not suspend and not retry and set(triggers) in (set(), DEFAULT_TRIGGERS):
        return None
    found: dict[str, Any] = {"triggers": triggers or sorted(DEFAULT_TRIGGERS),
                             "divert": divert, "suspend": suspend}  # fmt: skip
    if retry:
        strategy: dict[str, Any] = {"type": retry}
        whole = True
        for part in ("interval", "attempts"):
            raw = _text(form, f"fh.{part}")
            try:
                strategy[part] = int(raw)
            except ValueError:
                whole = False
                problems.append(FieldProblem(f"failure_handling.retry_strategy.{part}",
                                             "must be a whole number"))  # fmt: skip
        if whole:
            found["retry_strategy"] = strategy
    return found


def _by_field(exc: InvalidRequest) -> dict[str, list[str]]:
    """The problems by the form field they belong beside (the first part of their path:
    ``failure_handling.retry_strategy.interval`` goes by failure handling, with its path)."""
    found: dict[str, list[str]] = {}
    for problem in exc.problems or [FieldProblem("", exc.message)]:
        path = problem.path
        field = path.split(".")[0].split("[")[0] if path else ""
        message = problem.message if "." not in path else f"{path}: {problem.message}"
        found.setdefault(field, []).append(message)
    return found


def _values(form: Form) -> dict[str, Any]:
    """What the person typed, to show again beside the problems (never a secret)."""
    return {
        **{k: str(v) for k, v in form.items() if k not in ("secret", "csrf", "once", "etag")},
        "events": [str(e) for e in form.getall("events", [])],
        "fh.triggers": [str(t) for t in form.getall("fh.triggers", [])],
    }


def _values_of(shown: Mapping[str, Any]) -> dict[str, Any]:
    """A webhook's JSON as the edit form's values."""
    fh = shown.get("failure_handling") or {}
    retry = fh.get("retry_strategy") or {}
    headers = shown.get("headers") or {}
    return {
        "name": shown["name"], "url": shown["url"], "description": shown.get("description") or "",
        "headers": "\n".join(f"{k}: {v}" for k, values in headers.items() for v in values),
        "allow_insecure_ssl": "on" if shown.get("allow_insecure_ssl") else "",
        "fh.triggers": list(fh.get("triggers") or sorted(DEFAULT_TRIGGERS)),
        "fh.divert": "on" if fh.get("divert") else "",
        "fh.suspend": "on" if fh.get("suspend") else "",
        "fh.retry": retry.get("type", ""), "fh.interval": str(retry.get("interval", "")),
        "fh.attempts": str(retry.get("attempts", "")),
    }  # fmt: skip
