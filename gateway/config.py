"""Configuration: a TOML file, structured with cattrs, every problem reported with its key path.

::

    [accounts.uipath-prod]            # one table per account; the name is yours
    provider = "uipath"               # an installed provider kind
    base_url = "https://cloud.uipath.com/acme/DefaultTenant/orchestrator_"
    client_secret = "${UIPATH_CLIENT_SECRET}"   # any string may name an environment variable

    [http]                            # optional: transport timeouts and retry bounds
    read_timeout = 30

    [server]                          # optional: the HTTP proxy
    host = "127.0.0.1"
    port = 8080
    [[server.api_keys]]
    name = "deploy-bot"
    key_sha256 = "…"                  # or key = "${GATEWAY_KEY}"
    scope = "write"                   # or "read"

Each account's keys (beyond ``provider``) are structured into its provider's ``settings_type``.
Unknown keys are errors; so is a missing environment variable. ``$$`` writes a literal ``$``.
Secrets (fields typed ``Secret``) never appear in reprs or messages.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
from cattrs.errors import (
    CattrsError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.v import format_exception

from gateway.errors import ConfigError, FieldProblem, InvalidRequest
from gateway.http import HttpSettings
from gateway.model import Secret
from gateway.proxy.policy import DestinationPolicy
from gateway.registry import Registry, default_registry

__all__ = [
    "AccountConfig",
    "ApiKey",
    "GatewayConfig",
    "ServerConfig",
    "SettingProblem",
    "StateConfig",
    "cattrs_problems",
    "check",
    "load_config",
    "parse_config",
]


class SettingProblem(ValueError):
    """Raised by a settings validator: what is wrong with which field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check(predicate: Callable[[Any], bool], message: str) -> Callable[[Any, Any, Any], None]:
    """An attrs validator for settings: ``field(validator=check(lambda v: v > 0, "..."))``."""

    def validate(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not predicate(value):
            raise SettingProblem(attribute.name, message)

    return validate


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@attrs.frozen(kw_only=True)
class ApiKey:
    """One key of the HTTP proxy: the plain value (``key``) or its hex SHA-256 (``key_sha256``)."""

    name: str
    scope: Literal["read", "write"]
    key: Secret | None = None
    key_sha256: str | None = attrs.field(
        default=None,
        validator=check(lambda v: bool(_SHA256.match(v)), "must be 64 lower-case hex digits"),
    )

    def __attrs_post_init__(self) -> None:
        if (self.key is None) == (self.key_sha256 is None):
            raise SettingProblem("key", "give exactly one of key or key_sha256")


@attrs.frozen(kw_only=True)
class ServerConfig:
    """The ``[server]`` table: where the proxy listens and who may call it."""

    host: str = "127.0.0.1"
    port: int = attrs.field(
        default=8080, validator=check(lambda v: 0 <= v < 65536, "must be 0-65535")
    )
    api_keys: tuple[ApiKey, ...] = ()
    max_body_bytes: int = attrs.field(
        default=65536, validator=check(lambda v: v > 0, "must be > 0")
    )
    fanout_concurrency: int = attrs.field(
        default=32, validator=check(lambda v: 1 <= v <= 256, "must be from 1 to 256")
    )
    shutdown_timeout: float = attrs.field(
        default=30.0, validator=check(lambda v: v >= 0, "must not be negative")
    )
    max_connections: int = attrs.field(
        default=1024, validator=check(lambda v: 1 <= v <= 65536, "must be from 1 to 65536")
    )
    max_connections_per_client: int = attrs.field(
        default=0, validator=check(lambda v: 0 <= v <= 65536, "must be from 0 to 65536")
    )
    request_head_timeout: float = attrs.field(
        default=10.0, validator=check(lambda v: 0 < v <= 3600, "must be > 0 and at most 3600")
    )
    request_body_timeout: float = attrs.field(
        default=30.0, validator=check(lambda v: 0 < v <= 3600, "must be > 0 and at most 3600")
    )
    destinations: DestinationPolicy = attrs.field(factory=DestinationPolicy)


def _state_url_ok(url: str) -> bool:
    scheme, _, rest = url.partition("://")
    return (scheme == "sqlite" and bool(rest.strip("/"))) or scheme in ("postgresql", "postgres")


@attrs.frozen(kw_only=True)
class StateConfig:
    """The ``[state]`` table: where shared state lives and how long it is kept.

    ``url`` is ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or
    ``postgresql://user:password@host:port/database``; ``repr`` hides it (it may hold a
    password).
    """

    url: str = attrs.field(
        repr=False,
        validator=check(
            _state_url_ok,
            "must be sqlite:///<file> (one process) or postgresql://... (replicas)",
        ),
    )
    idempotency_retention_hours: float = attrs.field(
        default=24.0, validator=check(lambda v: 0 < v <= 8760, "must be > 0 and at most 8760")
    )
    audit_retention_days: float = attrs.field(
        default=90.0, validator=check(lambda v: 0 < v <= 36500, "must be > 0 and at most 36500")
    )
    pool_size: int = attrs.field(
        default=20, validator=check(lambda v: 1 <= v <= 500, "must be from 1 to 500")
    )


@attrs.frozen(kw_only=True)
class AccountConfig:
    """One configured account: its name, its provider kind, and that provider's settings."""

    name: str
    provider: str
    settings: Any


@attrs.frozen(kw_only=True)
class GatewayConfig:
    """A whole, valid configuration."""

    accounts: Mapping[str, AccountConfig] = attrs.field(factory=dict)
    server: ServerConfig = attrs.field(factory=ServerConfig)
    http: HttpSettings = attrs.field(factory=HttpSettings)
    state: StateConfig | None = None


def _converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)

    def secret(value: Any, _type: Any) -> Secret:
        if not isinstance(value, str):
            raise TypeError("must be a string")
        return Secret(value)

    conv.register_structure_hook(Secret, secret)
    return conv


converter = _converter()
_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOP_LEVEL = ("accounts", "http", "server", "state")


def load_config(
    path: str | os.PathLike[str],
    *,
    registry: Registry | None = None,
    env: Mapping[str, str] | None = None,
) -> GatewayConfig:
    """Read and validate a TOML config file; ``ConfigError`` lists every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {os.fspath(path)}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{os.fspath(path)} is not valid TOML: {exc}") from None
    return parse_config(data, registry=registry, env=env)


def parse_config(
    data: Mapping[str, Any],
    *,
    registry: Registry | None = None,
    env: Mapping[str, str] | None = None,
) -> GatewayConfig:
    """Validate already parsed TOML data (a dict); ``ConfigError`` lists every problem."""
    registry = registry or default_registry()
    problems: list[FieldProblem] = []
    data = _expand(data, os.environ if env is None else env, "", problems)
    problems += [FieldProblem(key, "unknown key") for key in data if key not in _TOP_LEVEL]

    accounts: dict[str, AccountConfig] = {}
    raw_accounts = data.get("accounts", {})
    if not isinstance(raw_accounts, dict):
        problems.append(FieldProblem("accounts", "must be a table of accounts"))
        raw_accounts = {}
    for name, table in raw_accounts.items():
        account = _account(name, table, registry, problems)
        if account is not None:
            accounts[name] = account

    server = _structure(data.get("server", {}), ServerConfig, "server", problems)
    http_settings = _structure(data.get("http", {}), HttpSettings, "http", problems)
    state = None
    if "state" in data:
        state = _structure(data["state"], StateConfig, "state", problems)
    if problems:
        raise ConfigError(problems=problems)
    return GatewayConfig(accounts=accounts, server=server, http=http_settings, state=state)


def _account(
    name: str, table: Any, registry: Registry, problems: list[FieldProblem]
) -> AccountConfig | None:
    path = f"accounts.{name}"
    if not isinstance(table, dict):
        problems.append(FieldProblem(path, "must be a table"))
        return None
    settings = dict(table)
    kind = settings.pop("provider", None)
    if not isinstance(kind, str):
        problems.append(
            FieldProblem(f"{path}.provider", "required field missing (a provider kind)")
        )
        return None
    try:
        cls = registry.load(kind, path=f"{path}.provider")
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None
    before = len(problems)
    structured = _structure(settings, cls.settings_type, path, problems)
    if len(problems) > before:
        return None
    return AccountConfig(name=name, provider=kind, settings=structured)


def _structure(value: Any, cls: type[Any], path: str, problems: list[FieldProblem]) -> Any:
    if not isinstance(value, dict):
        problems.append(FieldProblem(path, "must be a table"))
        return None
    if attrs.has(cls):  # report unknown keys beside the other problems, not instead of them
        known = {a.alias for a in attrs.fields(cls)}
        unknown = sorted(k for k in value if k not in known)
        problems.extend(FieldProblem(_join(path, k), "unknown key") for k in unknown)
        value = {k: v for k, v in value.items() if k in known}
    try:
        return converter.structure(value, cls)
    except Exception as exc:  # cattrs groups every problem; flatten them with paths
        problems.extend(cattrs_problems(exc, path))
        return None


def cattrs_problems(exc: BaseException, path: str = "") -> list[FieldProblem]:
    """Every problem in a cattrs structuring error, each with its key path under ``path``."""
    if isinstance(exc, ClassValidationError):
        with_notes, without = exc.group_exceptions()
        out = [p for e, note in with_notes for p in cattrs_problems(e, _join(path, note.name))]
        return out + [p for e in without for p in cattrs_problems(e, path)]
    if isinstance(exc, IterableValidationError):
        with_index, without = exc.group_exceptions()
        out = [p for e, note in with_index for p in cattrs_problems(e, f"{path}[{note.index}]")]
        return out + [p for e in without for p in cattrs_problems(e, path)]
    if isinstance(exc, ForbiddenExtraKeysError):
        return [FieldProblem(_join(path, key), "unknown key") for key in sorted(exc.extra_fields)]
    if isinstance(exc, SettingProblem):
        return [FieldProblem(_join(path, exc.field), exc.message)]
    if isinstance(exc, InvalidRequest):  # a model class validating itself
        return [FieldProblem(_join(path, p.path), p.message) for p in exc.problems]
    if isinstance(exc, KeyError):
        return [FieldProblem(path, "required field missing")]
    if isinstance(exc, TypeError) and str(exc).startswith("must "):
        return [FieldProblem(path, str(exc))]
    if isinstance(exc, TypeError | ValueError) and "expected" not in str(exc):
        return [FieldProblem(path, f"invalid value: {exc}")]
    if isinstance(exc, CattrsError):  # e.g. a value outside a Literal
        return [FieldProblem(path, f"invalid value: {exc}")]
    return [FieldProblem(path, format_exception(exc, None))]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and key else path or key


def _expand(value: Any, env: Mapping[str, str], path: str, problems: list[FieldProblem]) -> Any:
    """Replace ``${VAR}`` in every string; a missing variable is a problem at ``path``."""
    if isinstance(value, dict):
        return {
            k: _expand(v, env, f"{path}.{k}" if path else k, problems) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_expand(v, env, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        var = match.group(1)
        if var is None:
            return "$"
        if var not in env:
            problems.append(FieldProblem(path, f"environment variable {var} is not set"))
            return ""
        return env[var]

    return _ENV.sub(replace, value)
