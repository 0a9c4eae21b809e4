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

import base64
import binascii
import ipaddress
import os
import re
import tomllib
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
import cattrs
from cattrs.errors import (
    CattrsError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.v import format_exception

from gateway.access import ACTIONS, Grant, identity_ok, matches_none
from gateway.checks import SettingProblem, check, did_you_mean, each
from gateway.destinations import DestinationPolicy
from gateway.errors import ConfigError, FieldProblem, InvalidRequest, NotFound
from gateway.model import Secret
from gateway.registry import Registry, default_registry
from gateway.transport.budget import RateQuota
from gateway.transport.http import HttpSettings

__all__ = [
    "AccountConfig",
    "ApiKey",
    "AutoUnsuspendConfig",
    "GatewayConfig",
    "InboundConfig",
    "ServerConfig",
    "SettingProblem",
    "SinkConfig",
    "StateConfig",
    "WatchConfig",
    "cattrs_problems",
    "check",
    "load_config",
    "parse_config",
    "read_secret_file",
]

#: The policy of a configuration without ``[destinations]``: the strict one.
DEFAULT_DESTINATIONS = DestinationPolicy()


_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Shortest API key accepted in plain (``key``); a hash (``key_sha256``) says nothing of length.
MIN_KEY_LENGTH = 16
#: The fewest guesses (log10) a plain key must take, as zxcvbn estimates them: ~46 bits, where
#: words, keyboard walks, dates and sequences count for what they are (``password12345678``
#: takes 10^4); a generated key (``secrets.token_urlsafe(24)``) takes about 10^32.
MIN_KEY_GUESSES_LOG10 = 14.0


def _check_key(field: str, key: Secret | None) -> None:
    """Refuse a plain API key that is short or easy to guess (never saying the key)."""
    if key is None:
        return
    value = key.reveal()
    if len(value) < MIN_KEY_LENGTH:
        why = f"must be at least {MIN_KEY_LENGTH} characters"
    else:
        from zxcvbn import zxcvbn  # loaded only where keys are configured

        if zxcvbn(value[:100])["guesses_log10"] >= MIN_KEY_GUESSES_LOG10:
            return
        why = "is too easy to guess (words, sequences, repeats)"
    raise SettingProblem(field, f"{why}: secrets.token_urlsafe(24) makes a good one")


@attrs.frozen(kw_only=True)
class ApiKey:
    """One key of the HTTP proxy: the plain value (``key``) or its hex SHA-256 (``key_sha256``)."""

    name: str = attrs.field(validator=check(lambda v: bool(v.strip()), "must not be empty"))
    scope: Literal["read", "write"]
    key: Secret | None = attrs.field(
        default=None,
        validator=lambda _i, a, v: _check_key(a.name, v),
    )
    key_sha256: str | None = attrs.field(
        default=None,
        validator=check(lambda v: bool(_SHA256.match(v)), "must be 64 lower-case hex digits"),
    )

    def __attrs_post_init__(self) -> None:
        if (self.key is None) == (self.key_sha256 is None):
            raise SettingProblem("key", "give exactly one of key or key_sha256")


def _unique_names(_instance: Any, _attribute: Any, keys: tuple[ApiKey, ...]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key.name in seen:
            raise SettingProblem("api_keys", f"two keys are named {key.name!r}; names must differ")
        seen.add(key.name)


def _network_ok(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


@attrs.frozen(kw_only=True)
class ServerConfig:
    """The ``[server]`` table: where the proxy listens and who may call it."""

    host: str = attrs.field(
        default="127.0.0.1", validator=check(lambda v: bool(v.strip()), "must not be empty")
    )
    port: int = attrs.field(
        default=8080, validator=check(lambda v: 0 <= v < 65536, "must be 0-65535")
    )
    api_keys: tuple[ApiKey, ...] = attrs.field(default=(), validator=_unique_names)
    max_body_bytes: int = attrs.field(
        default=65536, validator=check(lambda v: v > 0, "must be > 0")
    )
    fanout_concurrency: int = attrs.field(
        default=32, validator=check(lambda v: 1 <= v <= 256, "must be from 1 to 256")
    )
    shutdown_timeout: float = attrs.field(
        default=30.0, validator=check(lambda v: v >= 0, "must not be negative")
    )
    #: On SIGTERM, how long ``/readyz`` answers 503 while requests are still served, before the
    #: listener closes (a load balancer's probe period: 5 to 10 s behind one; 0 alone).
    shutdown_delay: float = attrs.field(
        default=0.0, validator=check(lambda v: 0 <= v <= 300, "must be from 0 to 300")
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
    #: Unauthenticated requests in flight at once, at most, for each of three budgets of their
    #: own: provider deliveries (``/v1/inbound/*``), console logins, and the rest (the console's
    #: other pages, ``/healthz``) (0: a quarter of ``max_connections``); beyond a budget they
    #: are 503 at once, connection closed, and the other budgets are untouched.
    max_unauthenticated: int = attrs.field(
        default=0, validator=check(lambda v: 0 <= v <= 65536, "must be from 0 to 65536")
    )
    #: Seconds an unauthenticated body (a provider's delivery, a console login) may take to
    #: arrive: short, so slow bodies cannot hold a budget's slots.
    unauthenticated_body_timeout: float = attrs.field(
        default=5.0, validator=check(lambda v: 0 < v <= 60, "must be > 0 and at most 60")
    )
    #: Wrong API keys (Bearer or console login) one client address may present in a minute;
    #: beyond it every attempt from it is 429 with ``Retry-After`` until the minute frees one.
    max_failed_keys_per_minute: int = attrs.field(
        default=10, validator=check(lambda v: 1 <= v <= 10000, "must be from 1 to 10000")
    )
    #: Addresses or networks (``10.0.0.0/8``) of reverse proxies in front of the gateway: only
    #: from them are ``X-Forwarded-For``/``X-Forwarded-Proto``/``Forwarded`` and a caller's
    #: ``traceparent`` on unauthenticated routes believed.
    trusted_proxies: tuple[str, ...] = attrs.field(default=(), validator=each(_network_ok,
        "must be an IP address or network such as 10.0.0.0/8"))  # fmt: skip
    #: TLS served by the gateway itself: a PEM certificate chain and its private key (both, or
    #: neither: then plain HTTP, for a TLS-terminating proxy in front, listed above).
    tls_cert: str | None = None
    tls_key: str | None = None
    #: The URL people and providers reach the gateway at. When it is https, console cookies are
    #: ``Secure`` and answers carry HSTS, whatever the hop in front of the gateway said.
    public_url: str | None = attrs.field(default=None, validator=check(
        lambda v: urlsplit(v).scheme in ("http", "https") and bool(urlsplit(v).hostname),
        "must be an http or https URL"))  # fmt: skip
    #: Seconds a list page read ahead for the request following its cursor stays usable
    #: (``gateway.operations.read_ahead``); 0 reads no page before it is asked for.
    list_read_ahead: float = attrs.field(
        default=2.0, validator=check(lambda v: 0 <= v <= 60, "must be from 0 to 60")
    )
    #: How many pages ahead of a caller following cursors its listing is read.
    list_read_ahead_pages: int = attrs.field(
        default=2, validator=check(lambda v: 1 <= v <= 8, "must be from 1 to 8")
    )

    def __attrs_post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "tls_key" if self.tls_key is None else "tls_cert"
            raise SettingProblem(missing, "give tls_cert and tls_key together (TLS), or neither")


def _state_url_ok(url: str) -> bool:
    scheme, _, rest = url.partition("://")
    return (scheme == "sqlite" and bool(rest.strip("/"))) or scheme in ("postgresql", "postgres")


def _fernet_key_ok(key: Secret) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.reveal())) == 32
    except (binascii.Error, ValueError):
        return False


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
    #: The Fernet key that encrypts the secrets ``rotate`` keeps (``gateway/health/rotation.py``):
    #: ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``
    secrets_key: Secret | None = attrs.field(
        default=None,
        validator=check(_fernet_key_ok, "must be a Fernet key: Base64 (URL-safe) of 32 bytes"),
    )
    #: ``required``: a write the store cannot audit is refused (503) before anything is sent;
    #: ``best-effort``: it goes ahead, logged and counted (``gateway_unaudited_writes_total``).
    audit: Literal["required", "best-effort"] = "required"
    #: ``auto``: ``serve`` (and every command) applies pending migrations when it opens the
    #: store; ``manual``: it applies none; ``serve`` listens not ready (``/readyz`` 503) until
    #: ``webhook-gateway migrate`` brought the schema up to date (a migration Job).
    migrate: Literal["auto", "manual"] = "auto"
    #: How long ``serve`` keeps trying to reach the store when it starts (the database may
    #: start after the gateway), in seconds; then it exits 5 with one line.
    connect_timeout: float = attrs.field(
        default=60.0, validator=check(lambda v: 0 <= v <= 3600, "must be from 0 to 3600")
    )
    #: How long an account's event catalog, read from its provider and kept in the store, is
    #: used before it is read again (seconds; a name it lacks reads it again at once).
    catalog_max_age: float = attrs.field(
        default=3600.0, validator=check(lambda v: 0 <= v <= 30 * 86400,
                                        "must be from 0 to 2592000")
    )  # fmt: skip
    #: Relays waiting in the inbound relay's outbox, at most: beyond it a provider's delivery
    #: is answered 503 with ``Retry-After`` (the provider retries later) and counted.
    relay_outbox_limit: int = attrs.field(
        default=100_000, validator=check(lambda v: 1 <= v <= 100_000_000,
                                         "must be from 1 to 100000000")
    )  # fmt: skip


def _sink_url_ok(url: str) -> bool:
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    return parts.scheme == "https" or (parts.scheme == "http" and loopback)


def _whsec_ok(secret: Secret) -> bool:
    value = secret.reveal()
    if not value.startswith("whsec_"):
        return False
    try:
        return len(base64.b64decode(value[6:], validate=True)) >= 24
    except (binascii.Error, ValueError):
        return False


@attrs.frozen(kw_only=True)
class SinkConfig:
    """One ``[[watch.sinks]]``: where operational events go (gateway/health/events.py)."""

    url: str = attrs.field(
        validator=check(_sink_url_ok, "must be an https URL (http only on loopback)")
    )
    secret: Secret = attrs.field(
        validator=check(
            _whsec_ok,
            "must be a Standard Webhooks secret: whsec_ and the Base64 of 24 bytes or more",
        )
    )


@attrs.frozen(kw_only=True)
class AutoUnsuspendConfig:
    """``[watch.auto_unsuspend]``: resume suspended webhooks (or enable again those a provider
    disabled for failing, UiPath) on their own, within limits (``gateway.health.watch``)."""

    after: float = attrs.field(
        default=900.0, validator=check(lambda v: 60 <= v <= 86400, "must be 60 to 86400 seconds")
    )
    max_per_day: int = attrs.field(
        default=3, validator=check(lambda v: 1 <= v <= 48, "must be from 1 to 48")
    )
    #: Only these accounts (default: every account whose provider can resume).
    accounts: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class InboundConfig:
    """``[inbound.ACCOUNT]``: the proxy takes that account's deliveries at
    ``POST /v1/inbound/ACCOUNT``, verifies them with ``secrets`` (the current one and, during a
    rotation, the previous) and forwards them to ``destinations`` (gateway/proxy/inbound.py)."""

    secrets: tuple[Secret, ...] = attrs.field(
        default=(), validator=check(lambda v: len(v) <= 5, "give at most 5 secrets")
    )
    #: A webhook whose secrets ``rotate`` keeps (``gateway/health/rotation.py``): they are tried
    #: too, so a rotation needs no change here.
    webhook: str | None = None
    destinations: tuple[SinkConfig, ...] = attrs.field(
        validator=check(lambda v: len(v) >= 1, "give at least one destination")
    )
    #: How long a provider's event id is remembered: the same event delivered again within it
    #: is acknowledged and not forwarded twice (kept in [state], so across replicas).
    replay_window_hours: float = attrs.field(
        default=24.0, validator=check(lambda v: 0 < v <= 720, "must be > 0 and at most 720")
    )

    def __attrs_post_init__(self) -> None:
        if not self.secrets and self.webhook is None:
            raise SettingProblem("secrets", "give secrets, or the webhook whose kept ones to use")


@attrs.frozen(kw_only=True)
class WatchConfig:
    """The ``[watch]`` table: ``serve`` also watches the webhooks' health
    (gateway/health/watch.py)."""

    interval: float = attrs.field(
        default=300.0, validator=check(lambda v: 10 <= v <= 86400, "must be 10 to 86400 seconds")
    )
    concurrency: int = attrs.field(
        default=8, validator=check(lambda v: 1 <= v <= 64, "must be from 1 to 64")
    )
    sinks: tuple[SinkConfig, ...] = ()
    auto_unsuspend: AutoUnsuspendConfig | None = None
    #: Also send the sinks the changes the gateway made itself (``data.by`` names who); by
    #: default they get only what nobody in the audit log did.
    notify_own: bool = False
    #: A manifest each look also plans: what it would change is drift (gateway/health/drift.py).
    manifest: str | None = None
    #: Apply that plan on each look (needs ``manifest``), at most ``max_writes_per_look``.
    reconcile: bool = False
    max_writes_per_look: int = attrs.field(
        default=20, validator=check(lambda v: 1 <= v <= 1000, "must be from 1 to 1000")
    )

    def __attrs_post_init__(self) -> None:
        if self.reconcile and self.manifest is None:
            raise ValueError("reconcile needs a manifest to reconcile with: set manifest")


@attrs.frozen(kw_only=True)
class OidcConfig:
    """``[auth.oidc]``: people sign in with the company's OpenID Provider (docs/access.md)."""

    #: The provider's issuer URL (its discovery document is ISSUER/.well-known/...).
    issuer: str = attrs.field(validator=check(
        lambda v: urlsplit(v).scheme in ("https", "http") and bool(urlsplit(v).hostname),
        "must be the provider's issuer URL (https)"))  # fmt: skip
    client_id: str = attrs.field(validator=check(lambda v: bool(v.strip()), "must not be empty"))
    client_secret: Secret
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    #: The ID token claim that lists the person's groups.
    groups_claim: str = "groups"
    #: What the console's button says ("Sign in with <title>").
    title: str = "single sign-on"
    #: A CA file for a provider whose certificate no public CA signed.
    ca_bundle: str | None = None

    def __attrs_post_init__(self) -> None:
        if "openid" not in self.scopes:
            raise SettingProblem("scopes", "must include openid")
        parts = urlsplit(self.issuer)
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SettingProblem("issuer", "must be https (http only on this machine, for tests)")


@attrs.frozen(kw_only=True)
class AuthConfig:
    """The ``[auth]`` table: how people sign in."""

    oidc: OidcConfig | None = None


@attrs.frozen(kw_only=True)
class ConsoleConfig:
    """The ``[console]`` table: the web console under ``/console`` (gateway/proxy/console)."""

    enabled: bool = True
    #: The console's "log in with an API key" form: a break-glass door where people sign in
    #: with ``[auth.oidc]``; false turns it off.
    api_key_login: bool = True
    #: A session unused this long ends (its absolute limit is 12 hours).
    idle_minutes: int = attrs.field(
        default=30, validator=check(lambda v: 1 <= v <= 720, "must be from 1 to 720")
    )


_WHO = "must be group:NAME, user:EMAIL, key:NAME or system:NAME"


@attrs.frozen(kw_only=True)
class GrantConfig:
    """One ``[[access.grants]]`` entry (``gateway.access``)."""

    who: tuple[str, ...] = attrs.field(validator=[
        check(bool, "must name someone"), each(identity_ok, _WHO)])  # fmt: skip
    can: tuple[str, ...] = attrs.field(validator=[
        check(bool, "must name at least one action"),
        each(lambda v: v in ACTIONS, f"must be one of: {', '.join(ACTIONS)}")])  # fmt: skip
    accounts: tuple[str, ...] = attrs.field(
        default=("*",), validator=check(bool, 'must name at least one account (or "*")')
    )
    webhooks: tuple[str, ...] | None = attrs.field(
        default=None, validator=check(bool, "must name at least one webhook (or leave it out)")
    )

    def grant(self, label: str) -> Grant:
        return Grant(who=self.who, can=frozenset(self.can), accounts=self.accounts,
                     webhooks=self.webhooks, label=label)  # fmt: skip


@attrs.frozen(kw_only=True)
class AccessConfig:
    """The ``[access]`` table: who may do what, where (docs/access.md)."""

    grants: tuple[GrantConfig, ...] = ()

    def to_grants(self) -> tuple[Grant, ...]:
        return tuple(g.grant(f"access.grants[{i}]") for i, g in enumerate(self.grants))


@attrs.frozen(kw_only=True)
class AccountConfig:
    """One configured account: its name, its provider kind, and that provider's settings."""

    name: str
    provider: str
    settings: Any
    #: At most this many requests a window to the provider, every replica together
    #: (``rate_limit = "100/60"``; None: as the provider's 429s teach, gateway.transport.budget).
    rate_limit: RateQuota | None = None


@attrs.frozen(kw_only=True)
class GatewayConfig:
    """A whole, valid configuration."""

    accounts: Mapping[str, AccountConfig] = attrs.field(factory=dict)
    server: ServerConfig = attrs.field(factory=ServerConfig)
    http: HttpSettings = attrs.field(factory=HttpSettings)
    state: StateConfig | None = None
    watch: WatchConfig | None = None
    console: ConsoleConfig = attrs.field(factory=ConsoleConfig)
    inbound: Mapping[str, InboundConfig] = attrs.field(factory=dict)
    #: Where webhook URLs may point, on every path (``[destinations]``; the strict default).
    destinations: DestinationPolicy = attrs.field(factory=lambda: DEFAULT_DESTINATIONS)
    #: Who may do what, where (``[[access.grants]]``).
    access: AccessConfig = attrs.field(factory=AccessConfig)
    #: How people sign in (``[auth.oidc]``).
    auth: AuthConfig = attrs.field(factory=AuthConfig)
    #: Every configured account's provider kind, those not loaded too (a command that reads
    #: only the state store still names each account's provider).
    account_kinds: Mapping[str, str] = attrs.field(factory=dict)


def _converter() -> cattrs.Converter:
    """Structuring as strict as TOML's types: no ``"8080"`` for a port, no ``5`` for a host."""
    conv = cattrs.Converter(forbid_extra_keys=True)

    def secret(value: Any, _type: Any) -> Secret:
        if not isinstance(value, str):
            raise TypeError("must be a string")
        return Secret(value)

    def integer(value: Any, _type: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"must be an integer, not {_toml_type(value)}")
        return value

    def number(value: Any, _type: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"must be a number, not {_toml_type(value)}")
        return float(value)

    def string(value: Any, _type: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"must be a string, not {_toml_type(value)}")
        return value

    def boolean(value: Any, _type: Any) -> bool:
        if not isinstance(value, bool):
            raise TypeError(f"must be true or false, not {_toml_type(value)}")
        return value

    def literal(tp: Any) -> Any:
        allowed = typing.get_args(tp)

        def structure(value: Any, _type: Any) -> Any:
            if value not in allowed:
                raise TypeError(f"must be one of: {', '.join(map(str, allowed))}")
            return value

        return structure

    conv.register_structure_hook(Secret, secret)
    conv.register_structure_hook(int, integer)
    conv.register_structure_hook(float, number)
    conv.register_structure_hook(str, string)
    conv.register_structure_hook(bool, boolean)
    conv.register_structure_hook_factory(_is_literal, literal)
    return conv


def _is_literal(tp: Any) -> bool:
    origin: Any = typing.get_origin(tp)
    return bool(origin is Literal)


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             dict: "a table", list: "an array"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


converter = _converter()
_ENV = re.compile(r"\$\$|\$\{(?:file:([^}]+)|([A-Za-z_][A-Za-z0-9_]*))\}")
_TOP_LEVEL = (
    "access", "accounts", "auth", "console", "destinations", "http", "inbound", "server",
    "state", "watch",
)  # fmt: skip


def load_config(
    path: str | os.PathLike[str],
    *,
    registry: Registry | None = None,
    env: Mapping[str, str] | None = None,
    accounts: Collection[str] | None = None,
    server: bool = True,
) -> GatewayConfig:
    """Read and validate a TOML config file; ``ConfigError`` lists every problem.

    ``accounts`` (default: all) and ``server`` say which parts to read: an account or a
    ``[server]`` table left out is neither validated nor has its ``${VAR}``s resolved, so a
    command needs only the variables of what it uses. ``[http]`` and ``[state]`` are always
    read. ``${file:PATH}`` paths are relative to the config file's folder.
    """
    missing = ("pass --config FILE or set WEBHOOK_GATEWAY_CONFIG (examples/gateway.toml is "
               "a start)")  # fmt: skip
    data = read_toml(path, "config", missing=missing)
    return parse_config(
        data,
        registry=registry,
        env=env,
        accounts=accounts,
        server=server,
        base_dir=Path(path).resolve().parent,
    )


def read_toml(
    path: str | os.PathLike[str], what: str, *, missing: str | None = None
) -> dict[str, Any]:
    """The data of the TOML file ``path`` (``what`` it is: "config", "manifest"), or a
    ``ConfigError`` that names the file and says what is wrong: the one reader of every TOML
    file the gateway takes (config, manifests). ``missing``: what to do when there is none."""
    where = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing is not None:
            raise ConfigError(f"no {what} file at {where}: {missing}") from None
        raise ConfigError(f"cannot read {what} {where}: No such file or directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {what} {where}: it is not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None


def parse_config(
    data: Mapping[str, Any],
    *,
    registry: Registry | None = None,
    env: Mapping[str, str] | None = None,
    accounts: Collection[str] | None = None,
    server: bool = True,
    base_dir: Path | None = None,
) -> GatewayConfig:
    """Validate already parsed TOML data (a dict); ``ConfigError`` lists every problem.

    ``accounts`` and ``server`` as for ``load_config``; an account asked for but not in the
    data is ``NotFound``, naming those that are.
    """
    registry = registry or default_registry()
    problems: list[FieldProblem] = []
    environ = os.environ if env is None else env
    base = base_dir or Path.cwd()

    def expand(value: Any, path: str) -> Any:
        return _expand(value, environ, base, path, problems)

    problems += _unknown(data, _TOP_LEVEL, "")
    raw_accounts = data.get("accounts", {})
    if not isinstance(raw_accounts, dict):
        problems.append(FieldProblem("accounts", "must be a table of accounts"))
        raw_accounts = {}
    if accounts is not None:
        missing = sorted(set(accounts) - set(raw_accounts))
        if missing:
            known = ", ".join(sorted(raw_accounts)) or "none"
            hint = did_you_mean(missing[0], raw_accounts)
            raise NotFound(f"no account named {missing[0]!r}{hint} (configured: {known})")
    loaded: dict[str, AccountConfig] = {}
    for name, table in raw_accounts.items():
        if accounts is not None and name not in accounts:
            continue
        account = _account(name, expand(table, f"accounts.{name}"), registry, problems)
        if account is not None:
            loaded[name] = account

    raw_server = data.get("server", {})
    legacy = raw_server.get("destinations") if isinstance(raw_server, dict) else None
    server_config = ServerConfig()
    if server:
        table = (
            {k: v for k, v in raw_server.items() if k != "destinations"}
            if isinstance(raw_server, dict)
            else raw_server
        )
        server_config = _structure(expand(table, "server"), ServerConfig, "server", problems)
    destinations = _destinations(data.get("destinations"), legacy, expand, problems)
    http_settings = _structure(expand(data.get("http", {}), "http"), HttpSettings, "http", problems)
    state = None
    if "state" in data:
        state = _structure(expand(data["state"], "state"), StateConfig, "state", problems)
    watch = None
    if "watch" in data:
        watch = _structure(expand(data["watch"], "watch"), WatchConfig, "watch", problems)
        if state is None and "state" not in data:
            problems.append(FieldProblem("watch", "watching needs [state] (where health is kept)"))
    console = ConsoleConfig()
    if "console" in data and server:
        found = _structure(expand(data["console"], "console"), ConsoleConfig, "console", problems)
        console = found if found is not None else console
    inbound: dict[str, InboundConfig] = {}
    raw_inbound = data.get("inbound", {}) if server else {}
    if not isinstance(raw_inbound, dict):
        problems.append(FieldProblem("inbound", "must be a table of accounts"))
        raw_inbound = {}
    for name, table in raw_inbound.items():
        where = f"inbound.{name}"
        if name not in raw_accounts:
            problems.append(FieldProblem(where, "not an account of the configuration"))
            continue
        relay = _structure(expand(table, where), InboundConfig, where, problems)
        if relay is not None:
            inbound[name] = relay
    if inbound and state is None and "state" not in data:
        problems.append(FieldProblem(
            "inbound", "the relay keeps deliveries in [state] until they are forwarded: set it"
        ))  # fmt: skip
    access = _access(data.get("access"), raw_accounts, expand, problems)
    auth = AuthConfig()
    if "auth" in data and server:
        found_auth = _structure(expand(data["auth"], "auth"), AuthConfig, "auth", problems)
        auth = found_auth if found_auth is not None else auth
    if problems:
        # One problem per key: a variable that is not set says it, not also "too short".
        first = {p.path: p for p in reversed(problems)}
        raise ConfigError(problems=[p for p in problems if first[p.path] is p])
    return GatewayConfig(
        accounts=loaded,
        server=server_config,
        http=http_settings,
        state=state,
        watch=watch,
        console=console,
        inbound=inbound,
        destinations=destinations or DEFAULT_DESTINATIONS,
        access=access or AccessConfig(),
        auth=auth,
        account_kinds={
            name: str(table["provider"])
            for name, table in raw_accounts.items()
            if isinstance(table, dict) and isinstance(table.get("provider"), str)
        },
    )


def _access(
    raw: Any,
    accounts: Mapping[str, Any],
    expand: Callable[[Any, str], Any],
    problems: list[FieldProblem],
) -> AccessConfig | None:
    """``[access]``: a grant's ``who`` may be one string; each of its ``accounts`` (a name or
    a glob) must name a configured account (a typo would otherwise grant nothing, silently)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("grants", []), list):
        problems.append(FieldProblem("access", "must be a table with [[access.grants]]"))
        return None
    table = dict(expand(raw, "access"))
    problems += _unknown(table, ("grants",), "access")
    grants: list[GrantConfig] = []
    for i, item in enumerate(table.get("grants", [])):
        where = f"access.grants[{i}]"
        if isinstance(item, dict) and isinstance(item.get("who"), str):
            item = dict(item, who=[item["who"]])  # one who, as a string
        grant: GrantConfig | None = _structure(item, GrantConfig, where, problems)
        if grant is None:
            continue
        grants.append(grant)
        for pattern in grant.accounts:
            if matches_none(pattern, accounts):
                problems.append(FieldProblem(
                    f"{where}.accounts",
                    f"{pattern!r} names no configured account" + did_you_mean(pattern, accounts),
                ))  # fmt: skip
    return AccessConfig(grants=tuple(grants))


def _destinations(
    table: Any, legacy: Any, expand: Any, problems: list[FieldProblem]
) -> DestinationPolicy | None:
    """``[destinations]``, or the ``[server.destinations]`` of earlier configs (read by every
    command, not only ``serve``: the policy holds on every path)."""
    if table is not None and legacy is not None:
        problems.append(FieldProblem(
            "server.destinations", "give the policy once: [destinations] replaces it"
        ))  # fmt: skip
        return None
    path = "destinations" if table is not None else "server.destinations"
    value = table if table is not None else legacy
    if value is None:
        return None
    policy: DestinationPolicy | None = _structure(
        expand(value, path), DestinationPolicy, path, problems
    )
    return policy


def _unknown(table: Mapping[str, Any], known: Collection[str], path: str) -> list[FieldProblem]:
    """An "unknown key" problem per key not in ``known``, with the likeliest meant one."""
    problems = []
    for key in table:
        if key in known:
            continue
        problems.append(FieldProblem(_join(path, key), "unknown key" + did_you_mean(key, known)))
    return problems


def _account(
    name: str, table: Any, registry: Registry, problems: list[FieldProblem]
) -> AccountConfig | None:
    path = f"accounts.{name}"
    if not isinstance(table, dict):
        problems.append(FieldProblem(path, "must be a table"))
        return None
    settings = dict(table)
    kind = settings.pop("provider", None)
    rate_limit = _rate_limit(settings.pop("rate_limit", None), f"{path}.rate_limit", problems)
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
    return AccountConfig(name=name, provider=kind, settings=structured, rate_limit=rate_limit)


def _rate_limit(value: Any, path: str, problems: list[FieldProblem]) -> RateQuota | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(FieldProblem(path, 'must be a string such as "100/60"'))
        return None
    try:
        return RateQuota.parse(value)
    except ValueError as exc:
        problems.append(FieldProblem(path, str(exc)))
        return None


def _structure(value: Any, cls: type[Any], path: str, problems: list[FieldProblem]) -> Any:
    """``value`` as a ``cls``; every problem goes into ``problems`` (None if there was one).

    For an attrs class every key is checked on its own first (unknown keys, types, each
    field's validator, nested tables), so that one run reports every problem; rules across
    fields (``__attrs_post_init__``) run once the keys are right one by one.
    """
    if not isinstance(value, dict):
        problems.append(FieldProblem(path, f"must be a table, not {_toml_type(value)}"))
        return None
    if attrs.has(cls):
        before = len(problems)
        _check_fields(value, cls, path, problems)
        if len(problems) > before:
            return None
    try:
        return converter.structure(value, cls)
    except Exception as exc:  # cattrs groups every problem; flatten them with paths
        problems.extend(cattrs_problems(exc, path))
        return None


def _check_fields(
    value: Mapping[str, Any], cls: type[Any], path: str, problems: list[FieldProblem]
) -> None:
    fields = attrs.fields(attrs.resolve_types(cls))
    problems.extend(_unknown(value, [f.alias for f in fields], path))
    for field in fields:
        where = _join(path, field.alias)
        if field.alias not in value:
            if field.default is attrs.NOTHING:
                problems.append(FieldProblem(where, "required field missing"))
            continue
        raw = value[field.alias]
        if attrs.has(field.type):
            _structure(raw, field.type, where, problems)
            continue
        item_type = _attrs_items(field.type)
        if item_type is not None and isinstance(raw, list):  # e.g. [[server.api_keys]]
            before = len(problems)
            for index, item in enumerate(raw):
                _structure(item, item_type, f"{where}[{index}]", problems)
            if len(problems) > before:
                continue
        try:
            structured = converter.structure(raw, field.type)
        except Exception as exc:
            problems.extend(cattrs_problems(exc, where))
            continue
        if field.validator is not None:
            try:
                field.validator(None, field, structured)
            except SettingProblem as exc:
                problems.append(FieldProblem(where, exc.message))
            except (ValueError, TypeError) as exc:
                problems.append(FieldProblem(where, _plain(exc)))


def _attrs_items(tp: Any) -> type[Any] | None:
    """The attrs class of a ``tuple[Cls, ...]`` field, else None."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0] if attrs.has(args[0]) else None
    return None


def _plain(exc: BaseException) -> str:
    """An attrs validator's message without its own field-name prefix."""
    text = str(exc.args[0]) if exc.args else str(exc)
    return re.sub(r"^'\w+' ", "", text)


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
        known = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        return [FieldProblem(_join(path, key), "unknown key" + did_you_mean(key, known))
                for key in sorted(exc.extra_fields)]  # fmt: skip
    if isinstance(exc, SettingProblem):
        return [FieldProblem(_join(path, exc.field), exc.message)]
    if isinstance(exc, ConfigError):  # settings naming every broken key (checks.raise_problems)
        return [FieldProblem(_join(path, p.path), p.message) for p in exc.problems]
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


def read_secret_file(path: Path) -> str:
    """A secret kept in a file (how secrets reach containers): its text, less one trailing
    newline. ``OSError`` when it cannot be read."""
    text = path.read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


def _expand(
    value: Any, env: Mapping[str, str], base: Path, path: str, problems: list[FieldProblem]
) -> Any:
    """Replace ``${VAR}`` and ``${file:PATH}`` in every string (a file's content, less one
    trailing newline: how secrets reach containers); a missing one is a problem at ``path``."""
    if isinstance(value, dict):
        return {k: _expand(v, env, base, _join(path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, base, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        file, var = match.group(1), match.group(2)
        if file is not None:
            target = base / file
            try:
                return read_secret_file(target)
            except OSError as exc:
                problems.append(FieldProblem(path, f"cannot read {target}: {exc.strerror}"))
                return ""
        if var is None:
            return "$"
        if var not in env:
            problems.append(FieldProblem(path, f"environment variable {var} is not set"))
            return ""
        return env[var]

    return _ENV.sub(replace, value)
