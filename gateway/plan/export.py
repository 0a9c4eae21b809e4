"""``export_manifest``: a manifest of what the accounts have now, so adoption starts from reality.

Each webhook gets a key made from its name (lower case, ``-`` for anything else, made unique).
Only what its provider stores is written. A webhook with a secret gets ``secret_env =
"<ACCOUNT>_<KEY>_SECRET"``: a placeholder to fill, since secrets are never exported. Planning
the export with ``--adopt`` right away shows no change but those secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from typing import Any

import attrs

from gateway.model import AlertEndpoint, Webhook, mask_url
from gateway.provider import Capabilities
from gateway.service import Gateway

__all__ = ["export_manifest"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(text: str) -> str:
    return text if _BARE.match(text) else json.dumps(text)


def _value(value: Any) -> str:
    """A TOML value for the types a webhook holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are TOML basic-string escapes
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else value
        return "[" + ", ".join(_value(v) for v in items) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-") or "webhook"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    taken.add(key)
    return key


def _alert_endpoint(endpoint: AlertEndpoint, secret_variable: str) -> dict[str, Any]:
    """An alert endpoint as a manifest writes it; its secret, if it has one, as a placeholder
    variable to fill in (``secret_env``), never the value."""
    out: dict[str, Any] = {"url": endpoint.url}
    if endpoint.headers:
        out["headers"] = {n: list(v) if len(v) > 1 else v[0] for n, v in endpoint.headers.items()}
    if endpoint.allow_insecure_ssl:
        out["allow_insecure_ssl"] = True
    if endpoint.tag is not None:
        out["tag"] = endpoint.tag
    if endpoint.secret_state in ("set", "unknown"):
        out["secret_env"] = secret_variable
    return out


def _fields(webhook: Webhook, capabilities: Capabilities, secret_variable: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": webhook.name, "url": webhook.url}
    stored = capabilities.fields
    if webhook.all_events and "all_events" in stored:
        out["all_events"] = True
    else:
        out["events"] = sorted(webhook.events)
    if "enabled" in stored and not webhook.enabled:
        out["enabled"] = False
    if "description" in stored and webhook.description:
        out["description"] = webhook.description
    if "headers" in stored and webhook.headers:
        out["headers"] = {n: list(v) if len(v) > 1 else v[0] for n, v in webhook.headers.items()}
    if "allow_insecure_ssl" in stored and webhook.allow_insecure_ssl:
        out["allow_insecure_ssl"] = True
    if "failure_handling" in stored and webhook.failure_handling is not None:
        fh = attrs.asdict(webhook.failure_handling, recurse=False)
        fh["triggers"] = sorted(fh["triggers"])
        if fh["retry_strategy"] is not None:
            fh["retry_strategy"] = attrs.asdict(fh["retry_strategy"])
        if fh["alert_endpoint"] is not None:
            fh["alert_endpoint"] = _alert_endpoint(fh["alert_endpoint"], secret_variable)
        out["failure_handling"] = {k: v for k, v in fh.items() if v is not None}
    extras = {k: v for k, v in webhook.extras.items() if k in capabilities.extras}
    if extras:
        out["extras"] = extras
    return out


def _mask(fields: dict[str, Any]) -> None:
    """Hide the credentials of an exported webhook's (or alert endpoint's) ``fields``."""
    fields["url"] = mask_url(fields["url"])
    if fields.get("headers"):
        fields["headers"] = {name: "***" for name in fields["headers"]}


async def export_manifest(
    gw: Gateway,
    *,
    accounts: Collection[str] | None = None,
    mask_credentials: bool = False,
    keep: Callable[[str, str], bool] | None = None,
) -> str:
    """The manifest (TOML text) of every webhook of the accounts (default: all);
    ``mask_credentials``: credentials in URLs (``user:password@``, ``token=``) and header values
    shown as ``***``, for a reader who may not see them; ``keep(account, webhook name)``: which
    webhooks to write (default: every one)."""
    names = [i.name for i in gw.accounts() if accounts is None or i.name in accounts]
    lines = ["# Exported by webhook-gateway export: what exists now. Secrets are placeholders."]
    for name in names:
        account = gw.account(name)
        taken: set[str] = set()
        async for webhook in account.list():
            if keep is not None and not keep(name, webhook.name):
                continue
            key = _slug(webhook.name, taken)
            lines += ["", f"[accounts.{_key(name)}.webhooks.{_key(key)}]"]
            variable = re.sub(r"[^A-Z0-9]+", "_", f"{name}_{key}_secret".upper())
            fields = _fields(webhook, account.capabilities, f"{variable[:-6]}ALERT_SECRET")
            if mask_credentials:
                _mask(fields)
                alert = fields.get("failure_handling", {}).get("alert_endpoint")
                if alert is not None:
                    _mask(alert)
            lines += [f"{k} = {_value(v)}" for k, v in fields.items()]
            if (
                webhook.secret_state in ("set", "unknown")
                and "secret" in account.capabilities.fields
            ):
                lines.append(f'secret_env = "{variable}"   # the secret is not exported: set it')
    return "\n".join(lines) + "\n"
