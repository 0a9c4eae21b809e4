"""The manifest: the webhooks each account should have, in TOML, secrets by reference only.

::

    owner = "ops"                                 # optional: the team it belongs to

    [accounts.uipath-prod.webhooks.jobs]          # "jobs": the manifest's key for it
    name = "jobs-to-ops"
    url = "https://hooks.example.com/jobs"
    events = ["job.completed", "job.faulted"]     # or all_events = true
    enabled = true
    description = "Job outcomes for the ops channel"
    headers = { X-Team = "ops" }
    secret_env = "JOBS_SECRET"                    # or secret_file = "secrets/jobs"; never secret

    [accounts.core-prod.webhooks.policies]
    name = "policy-issued"
    url = "https://hooks.example.com/policies"
    events = ["policy.quote.issue"]
    extras = { tag = "blue" }

    [accounts.core-prod.webhooks.policies.failure_handling]
    divert = true
    suspend = true
    # where Enterprise Core alerts after failures; its secret by reference, like the webhook's
    alert_endpoint = { url = "https://alerts.example.com/p", secret_env = "ALERTS_SECRET" }

A manifest with an ``owner`` manages only the webhooks it made or took over itself: another
owner's are left alone, listed as "managed by X", even by ``--prune`` (docs/plan.md).

``load_manifest`` checks it whole before any provider is asked: every problem with its path
(an unknown account, a literal secret, a missing variable or file, a field the account's
provider cannot store, more events than it takes).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from gateway.codec import spec_from_json
from gateway.config import GatewayConfig, read_secret_file, read_toml
from gateway.errors import ConfigError, FieldProblem, InvalidRequest
from gateway.model import WebhookSpec
from gateway.registry import Registry, default_registry

__all__ = ["Desired", "Manifest", "inline_references", "load_manifest", "parse_manifest"]

_SECRET_KEYS = ("secret_env", "secret_file")
#: The source of a secret whose ``secret_env`` variable is not set: ``unset-env:VAR``.
_UNSET = "unset-env:"


@attrs.frozen(kw_only=True)
class Desired:
    """One webhook the manifest asks for: its key, account, and spec (secret resolved)."""

    account: str
    key: str
    spec: WebhookSpec
    #: Where the secret comes from (``env:VAR`` or ``file:path``), for messages; never the value.
    secret_source: str | None = None
    #: ``secret_env``'s variable when it is not set: the secret is not compared, and a write
    #: that needs it (a create) is refused at plan.
    secret_unset: str | None = None
    #: ``"managed"`` (the manifest's secret, set back after a rotation) or ``"external"``
    #: (set on create, then rotated elsewhere: never compared or reverted).
    secret_rotation: str = "managed"  # noqa: S105 - a mode, not a secret
    #: The key this entry had before (``moved_from``): ownership moves, nothing is rewritten.
    moved_from: str | None = None


@attrs.frozen(kw_only=True)
class Manifest:
    """Every desired webhook, by account, then by key, in file order."""

    accounts: Mapping[str, Mapping[str, Desired]]
    #: The team the manifest belongs to: it manages only what it made or took over itself
    #: (``""``: a manifest that names no owner).
    owner: str = ""

    def __len__(self) -> int:
        return sum(len(hooks) for hooks in self.accounts.values())


def load_manifest(
    path: str | os.PathLike[str],
    config: GatewayConfig,
    *,
    env: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    only: Collection[str] | None = None,
) -> Manifest:
    """Read and check a manifest file against ``config``'s accounts (``ConfigError`` lists
    every problem; ``secret_file`` paths are relative to the manifest's folder). ``only``:
    the accounts to read (the others' tables are left unread, e.g. ``plan --account``)."""
    data = read_toml(path, "manifest")
    if only is not None and isinstance(data.get("accounts"), dict):
        data = {**data, "accounts": {k: v for k, v in data["accounts"].items() if k in only}}
    return parse_manifest(
        data, config, env=env, base_dir=Path(path).resolve().parent, registry=registry
    )


#: What an owner's name may be.
OWNER_FORM = re.compile(r"[A-Za-z0-9._-]{1,100}")


def parse_manifest(
    data: Mapping[str, Any],
    config: GatewayConfig,
    *,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    registry: Registry | None = None,
    inline_secrets: bool = False,
) -> Manifest:
    """Check already parsed manifest data; ``ConfigError`` lists every problem.

    ``inline_secrets`` is for manifests sent in a request body (the HTTP API): there a secret
    is given as ``secret`` (write-only, as in a create), and ``secret_env``/``secret_file``,
    which would read the gateway's own environment and files, are refused.
    """
    environ = os.environ if env is None else env
    base = base_dir or Path.cwd()
    registry = registry or default_registry()
    if not isinstance(data, Mapping):
        raise ConfigError(problems=[FieldProblem("", "a manifest is a table with [accounts.*]")])
    problems: list[FieldProblem] = []
    problems += [FieldProblem(k, "unknown key; a manifest has owner and [accounts.*]")
                 for k in data if k not in ("accounts", "owner")]  # fmt: skip
    owner = data.get("owner", "")
    if not isinstance(owner, str) or (owner and not OWNER_FORM.fullmatch(owner)):
        problems.append(FieldProblem("owner", "must be a team's name: letters, digits, '.', "
                                     "'_', '-' (at most 100)"))  # fmt: skip
        owner = ""
    raw_accounts = data.get("accounts", {})
    if not isinstance(raw_accounts, dict):
        raise ConfigError(problems=[FieldProblem("accounts", "must be a table")])
    accounts: dict[str, dict[str, Desired]] = {}
    for account, table in raw_accounts.items():
        path = f"accounts.{account}"
        if account not in config.accounts:
            problems.append(FieldProblem(path, "not an account of the configuration"))
            continue
        webhooks = table.get("webhooks", {}) if isinstance(table, dict) else None
        if not isinstance(webhooks, dict) or set(table) - {"webhooks"}:
            problems.append(FieldProblem(path, "must hold only a [webhooks.KEY] table per webhook"))
            continue
        capabilities = registry.load(config.accounts[account].provider).capabilities
        hooks = accounts.setdefault(account, {})
        names: dict[str, str] = {}
        for key, entry in webhooks.items():
            desired = _desired(account, key, entry, f"{path}.webhooks.{key}", environ, base,
                               problems, inline_secrets)  # fmt: skip
            if desired is None:
                continue
            where = f"{path}.webhooks.{key}"
            problems += _storable(desired.spec, capabilities, where)
            if desired.spec.name in names:
                problems.append(FieldProblem(
                    f"{where}.name",
                    f"{desired.spec.name!r} is also the name of {names[desired.spec.name]!r}",
                ))  # fmt: skip
            names[desired.spec.name] = key
            hooks[key] = desired
    if problems:
        raise ConfigError(problems=problems)
    return Manifest(accounts=accounts, owner=owner)


def _desired(
    account: str,
    key: str,
    entry: Any,
    path: str,
    env: Mapping[str, str],
    base: Path,
    problems: list[FieldProblem],
    inline_secrets: bool = False,
) -> Desired | None:
    if not isinstance(entry, dict):
        problems.append(FieldProblem(path, "must be a table"))
        return None
    fields = dict(entry)
    rotation = fields.pop("secret_rotation", "managed")
    if rotation not in ("managed", "external"):
        problems.append(FieldProblem(f"{path}.secret_rotation", 'must be "managed" or "external"'))
        return None
    moved_from = fields.pop("moved_from", None)
    if moved_from is not None and (not isinstance(moved_from, str) or not moved_from
                                   or moved_from == key):  # fmt: skip
        problems.append(FieldProblem(f"{path}.moved_from", "must be the entry's earlier key"))
        return None
    if inline_secrets:
        source = _inline_secret(fields, path, problems)
    else:
        source = _referenced_secret(fields, path, env, base, problems, lazy=True)
    alert = _alert_endpoint(fields)
    if alert is not None:  # its secret is given the same ways as the webhook's own
        where = f"{path}.failure_handling.alert_endpoint"
        if inline_secrets:
            alert_source = _inline_secret(alert, where, problems)
        else:
            alert_source = _referenced_secret(alert, where, env, base, problems)
        if alert_source is False:
            return None
    if source is False:
        return None
    try:
        spec = spec_from_json(fields)
    except InvalidRequest as exc:
        problems.extend(FieldProblem(f"{path}.{p.path}".rstrip("."), p.message)
                        for p in exc.problems)  # fmt: skip
        return None
    unset = source.removeprefix(_UNSET) if source and source.startswith(_UNSET) else None
    return Desired(account=account, key=key, spec=spec, secret_source=source, secret_unset=unset,
                   secret_rotation=rotation, moved_from=moved_from)  # fmt: skip


def _alert_endpoint(fields: dict[str, Any]) -> dict[str, Any] | None:
    """The entry's ``failure_handling.alert_endpoint`` table, copied into ``fields`` so that
    resolving its secret leaves the caller's data as it was (None when there is none)."""
    handling = fields.get("failure_handling")
    if not isinstance(handling, dict) or not isinstance(handling.get("alert_endpoint"), dict):
        return None
    alert = dict(handling["alert_endpoint"])
    fields["failure_handling"] = {**handling, "alert_endpoint": alert}
    return alert


def _inline_secret(
    fields: dict[str, Any], path: str, problems: list[FieldProblem]
) -> str | Literal[False] | None:
    """A request's manifest: the secret is ``secret`` itself; references are refused.
    Returns where the secret comes from, or False after a problem."""
    unset = fields.pop("secret_unset", None)  # the sender's variable was not set
    if (
        isinstance(unset, str)
        and unset
        and fields.get("secret") is None
        and not any(k in fields for k in _SECRET_KEYS)
    ):
        return f"{_UNSET}{unset}"
    refused = [k for k in _SECRET_KEYS if k in fields]
    for name in refused:
        problems.append(FieldProblem(
            f"{path}.{name}", "not in a request: give the secret itself as secret"
        ))  # fmt: skip
    if refused:
        return False
    return "request" if fields.get("secret") is not None else None


def _referenced_secret(
    fields: dict[str, Any],
    path: str,
    env: Mapping[str, str],
    base: Path,
    problems: list[FieldProblem],
    *,
    lazy: bool = False,
) -> str | Literal[False] | None:
    """A manifest file: ``secret_env`` or ``secret_file`` is replaced by ``secret`` (its
    value); a literal ``secret`` is refused. Returns the source, or False after a problem.
    ``lazy``: a ``secret_env`` that is not set is ``unset-env:VAR`` (no secret), not a problem
    (the plan refuses what needs it)."""
    if "secret" in fields:
        problems.append(FieldProblem(
            f"{path}.secret",
            "a literal secret is refused: give secret_env = \"VAR\" or secret_file = \"path\"",
        ))  # fmt: skip
        return False
    given = [k for k in _SECRET_KEYS if k in fields]
    if len(given) > 1:
        problems.append(FieldProblem(f"{path}.secret_env", "give secret_env or secret_file"))
        return False
    if not given:
        return None
    reference = fields.pop(given[0])
    if not isinstance(reference, str) or not reference:
        problems.append(FieldProblem(f"{path}.{given[0]}", "must be a non-empty string"))
        return False
    if given[0] == "secret_env":
        if reference not in env and lazy:
            return f"{_UNSET}{reference}"
        if reference not in env:
            problems.append(FieldProblem(
                f"{path}.secret_env", f"environment variable {reference} is not set"
            ))  # fmt: skip
            return False
        fields["secret"] = env[reference]
        return f"env:{reference}"
    target = _confined(base, reference)
    if isinstance(target, str):
        problems.append(FieldProblem(f"{path}.secret_file", target))
        return False
    try:
        fields["secret"] = read_secret_file(target)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        problems.append(FieldProblem(
            f"{path}.secret_file", f"cannot read {reference}: {reason}"
        ))  # fmt: skip
        return False
    return f"file:{reference}"


#: The largest ``secret_file`` read (a secret is a line, not a document).
MAX_SECRET_FILE = 4096


def _confined(base: Path, reference: str) -> Path | str:
    """The file ``reference`` names as a secret file of a manifest in ``base``, or why it may
    not be read: it must be a relative path inside the manifest's folder, through no ``..`` and no
    symlink out of it, to a regular file of at most ``MAX_SECRET_FILE`` bytes."""
    relative = Path(reference)
    if relative.is_absolute() or reference.startswith(("/", "\\", "~")):
        return "must be a path relative to the manifest's folder, not an absolute one"
    if ".." in relative.parts:
        return "must stay inside the manifest's folder (no ..)"
    root = base.resolve()
    try:
        target = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return f"cannot read {reference}: no such file"
    if not target.is_relative_to(root):
        return "must stay inside the manifest's folder (a symlink leads out of it)"
    if not target.is_file():
        return f"{reference} is not a regular file"
    if target.stat().st_size > MAX_SECRET_FILE:
        return f"{reference} is larger than {MAX_SECRET_FILE} bytes: not a secret"
    return target


def _storable(spec: WebhookSpec, capabilities: Any, path: str) -> list[FieldProblem]:
    """The fields of ``spec`` the provider cannot store, and an event count it refuses."""
    problems = []
    stored = capabilities.fields | {"name", "url", "events"}
    for field in sorted(spec.set_fields() - stored):
        problems.append(FieldProblem(f"{path}.{field}", "the provider cannot store this"))
    for name in sorted(set(spec.extras) - capabilities.extras):
        problems.append(FieldProblem(f"{path}.extras.{name}", "the provider cannot store this"))
    count = len(spec.events)
    if not spec.all_events:
        if capabilities.max_events is not None and count > capabilities.max_events:
            problems.append(FieldProblem(
                f"{path}.events", f"at most {capabilities.max_events} events, not {count}"
            ))  # fmt: skip
        if count < capabilities.min_events:
            problems.append(FieldProblem(
                f"{path}.events", f"at least {capabilities.min_events} event(s)"
            ))  # fmt: skip
    return problems


def inline_references(
    data: Mapping[str, Any],
    base: Path,
    env: Mapping[str, str] | None = None,
    *,
    found: list[FieldProblem] | None = None,
) -> dict[str, Any]:
    """A manifest file's data for a request (``POST /v1/plan``): each ``secret_env`` and
    ``secret_file`` (the webhook's and its alert endpoint's) read here and sent as ``secret``
    (write-only); a ``secret_env`` that is not set as ``secret_unset = "VAR"``, so that the
    gateway leaves that secret uncompared, as a local plan would. ``ConfigError`` lists every
    problem (a literal secret, a file that cannot be read); with ``found``, they are added to
    it instead and the secrets in question left out, so that the rest can still be planned and
    its problems reported with these."""
    environ = os.environ if env is None else env
    problems: list[FieldProblem] = []
    accounts: dict[str, Any] = {}
    for account, table in (data.get("accounts") or {}).items():
        webhooks = table.get("webhooks", {}) if isinstance(table, dict) else {}
        out: dict[str, Any] = {}
        for key, entry in webhooks.items():
            path = f"accounts.{account}.webhooks.{key}"
            if not isinstance(entry, dict):
                out[key] = entry
                continue
            fields = dict(entry)
            source = _referenced_secret(fields, path, environ, base, problems, lazy=True)
            if source is False:
                fields.pop("secret", None)
            if isinstance(source, str) and source.startswith(_UNSET):
                fields["secret_unset"] = source.removeprefix(_UNSET)
            alert = _alert_endpoint(fields)
            if alert is not None:
                where = f"{path}.failure_handling.alert_endpoint"
                if _referenced_secret(alert, where, environ, base, problems) is False:
                    alert.pop("secret", None)
            out[key] = fields
        accounts[account] = {**table, "webhooks": out} if isinstance(table, dict) else table
    if problems and found is None:
        raise ConfigError(problems=problems)
    if found is not None:
        found += problems
    return {**data, "accounts": accounts}
