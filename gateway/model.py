"""The provider-agnostic model: what a webhook subscription is, and how a change applies.

No provider's field names appear here; each adapter owns its translation. All classes are
frozen attrs classes, so a value handed to an adapter can never change under it.

Input classes (``WebhookSpec``, ``WebhookChange``) validate on construction and raise
``InvalidRequest`` listing every problem with its field path. ``Webhook`` is what a provider
reported and is not re-validated (providers return records we would not accept as input,
such as UiPath webhooks without a name).

``WebhookChange.apply`` is THE definition of an update: removals first, then additions, so an
item named in both ends up present; scalar fields left ``UNSET`` keep their value.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import re
from collections.abc import (
    Collection,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from datetime import datetime
from typing import Any, Final, Literal, TypeVar

import attrs
from yarl import URL

from gateway.errors import FieldProblem, InvalidRequest
from gateway.masking import mask_url

__all__ = [
    "DEFAULT_TRIGGERS",
    "UNSET",
    "AlertEndpoint",
    "EventType",
    "Extras",
    "FailureHandling",
    "Headers",
    "ListFilter",
    "PingResult",
    "RetryStrategy",
    "Secret",
    "SecretState",
    "Unset",
    "Webhook",
    "WebhookChange",
    "WebhookSpec",
    "mask_url",
    "name_set",
]

MAX_URL_LENGTH: Final = 2000
#: The most names one request may list in a set field (events, header names) and the most
#: values one header may carry: beyond them the request is refused, not processed.
MAX_LIST_LENGTH: Final = 256
MAX_HEADER_VALUES: Final = 32
#: Longest name, description, header value or event name accepted (what the providers store).
MAX_TEXT_LENGTH: Final = 2000
#: Largest retry interval accepted. Socotra's schema types ``interval`` int64 and gives no unit
#: (seconds is assumed); the gateway keeps it within 32 bits.
MAX_INTERVAL: Final = 2**31 - 1
#: The states of a webhook's secret as read: the provider said it has one (or returned it), said
#: it has none, or does not say (it never returns the secret nor whether there is one).
SecretState = Literal["set", "unset", "unknown"]
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 header field name
#: What no stored text may hold: C0 and C1 controls, DEL, unpaired surrogates
#: (``text_problem``). One search instead of a test of each character.
_UNFIT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: White space as ``str.isspace`` sees it (both use Unicode's White_Space property).
_SPACE = re.compile(r"\s")
#: A failure trigger that names one status: Socotra's webhooks guide takes "specific 400- or
#: 500-level HTTP codes, or all in those levels (4xx, 5xx)", plus timeout; a 2xx or 3xx is not a
#: failure.
_STATUS_TRIGGER = re.compile(r"^[45][0-9][0-9]$")
_TRIGGERS_TAKEN = "4xx, 5xx, timeout or a 400- or 500-level status code"


class Secret:
    """A secret value (webhook secret, client secret, token, API key).

    ``repr``, ``str`` and ``format`` show ``***``; the value comes out only through ``reveal()``.
    Equality is constant-time; the hash is of a digest, never of the value itself.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret takes a str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The secret value itself. Call it only where the value must leave the process."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value.encode()).digest())

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secret values are not pickled")

    # Immutable: a copy is the object itself (so ``copy.deepcopy`` of a webhook works without
    # the value ever passing through pickling).
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


V = TypeVar("V")


class _FrozenMap(Mapping[str, V]):
    """An immutable, hashable ``str -> V`` map; subclasses fill ``_items`` in ``__init__``."""

    __slots__ = ("_items",)
    _items: dict[str, V]

    def __getitem__(self, key: str) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    # The dict's own methods rather than ``Mapping``'s, which go through the ones above a key at
    # a time (every listed webhook's headers and extras are read for its answer). Its views are
    # read-only: nothing changes the map through them.
    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._items.keys()

    def items(self) -> ItemsView[str, V]:
        return self._items.items()

    def values(self) -> ValuesView[V]:
        return self._items.values()

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self) or isinstance(other, _FrozenMap):  # (exact type: no ABC)
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class Headers(_FrozenMap[tuple[str, ...]]):
    """An immutable, hashable ``name -> values`` map of custom delivery headers.

    Names compare exactly as given (the providers store them that way); each name maps to a tuple
    of values. Built from any mapping whose values are a string or an iterable of strings.
    """

    __slots__ = ()

    def __init__(self, items: Mapping[str, str | Iterable[str]] | None = None) -> None:
        data: dict[str, tuple[str, ...]] = {}
        for name, values in (items or {}).items():
            data[name] = (values,) if isinstance(values, str) else tuple(values)
        self._items = data


#: The empty ``Headers`` (immutable, so one instance serves every webhook without headers).
NO_HEADERS: Final = Headers()


class Unset(enum.Enum):
    """Marks a ``WebhookChange`` field that is not being changed."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


def _secret(value: Secret | str | None) -> Secret | None:
    return Secret(value) if isinstance(value, str) else value


def _maybe_secret(value: Secret | str | Unset | None) -> Secret | Unset | None:
    return value if value is UNSET else _secret(value)


def name_set(value: Iterable[str] | str) -> frozenset[str]:
    """``value``'s names as a frozenset (a lone string is one name, not a set of characters),
    one shared object for each small set already made: most webhooks take one of a few sets
    of events, and a plan that keeps thousands of webhooks and their diffs keeps one set each
    instead of one per record (what the cyclic garbage collector walked, about a fifth of the
    plan's CPU at 30 x 1,000 webhooks)."""
    names = frozenset((value,) if isinstance(value, str) else value)
    if len(names) > _SHARED_SIZE:
        return names
    found = _shared_sets.get(names)
    if found is None:
        if len(_shared_sets) >= _SHARED_SETS:  # (names come from providers: bounded)
            _shared_sets.clear()
        found = _shared_sets[names] = names
    return found


_SHARED_SIZE = 16
_SHARED_SETS = 4096
_shared_sets: dict[frozenset[str], frozenset[str]] = {}


class Extras(_FrozenMap[str]):
    """An immutable, hashable ``name -> value`` map of provider-only settings."""

    __slots__ = ()

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = dict(items or {})


NO_EXTRAS: Final = Extras()


# The converters test the exact type first: ``isinstance`` against a ``Mapping`` subclass goes
# through ``ABCMeta.__instancecheck__`` (about 0.1 us, on each record a list reads).
def _extras(value: Mapping[str, str] | None) -> Extras:
    if type(value) is Extras:
        return value
    if not value:
        return NO_EXTRAS
    return value if isinstance(value, Extras) else Extras(value)


def _headers(value: Mapping[str, str | Iterable[str]] | None) -> Headers:
    if type(value) is Headers:
        return value
    if not value:
        return NO_HEADERS
    return value if isinstance(value, Headers) else Headers(value)


@attrs.frozen(kw_only=True)
class EventType:
    """An event a provider can deliver: ``name`` in the provider's canonical spelling."""

    name: str
    group: str = ""
    description: str = ""


@attrs.frozen(kw_only=True)
class RetryStrategy:
    """How a provider retries a failed delivery (Enterprise Core's ``RetryStrategy``).

    ``interval`` is the wait between attempts; assumed to be seconds (the schema says only
    int64, and no public page settles the unit)."""

    type: Literal["linear", "exponential"] = "exponential"
    interval: int = 1
    attempts: int = 3


DEFAULT_TRIGGERS: Final = frozenset({"4xx", "5xx", "timeout"})


@attrs.frozen(kw_only=True)
class AlertEndpoint:
    """Where a provider sends an alert once a delivery has failed for good (Enterprise Core's
    ``failureHandling.alertEndpoint``): an endpoint like a webhook's own.

    ``allow_insecure_ssl`` turns TLS verification off for it; ``secret`` is write-only, as a
    webhook's: it signs the alerts, and ``secret_state`` says whether there is one when the
    provider does not return it. ``tag`` is the provider's free-text label of the endpoint.
    """

    url: str
    headers: Headers = attrs.field(default=NO_HEADERS, converter=_headers)
    allow_insecure_ssl: bool = False
    secret: Secret | None = attrs.field(default=None, converter=_secret)
    tag: str | None = None
    secret_state: SecretState = attrs.field(
        default=attrs.Factory(lambda self: "set" if self.secret else "unset", takes_self=True)
    )


@attrs.frozen(kw_only=True)
class FailureHandling:
    """What a provider does when a delivery fails (Enterprise Core).

    ``FailureHandling()`` is the documented default: triggers 4xx, 5xx and timeout, no retry
    strategy of our own, no alert endpoint, no diversion, no suspension.
    """

    triggers: frozenset[str] = attrs.field(default=DEFAULT_TRIGGERS, converter=name_set)
    retry_strategy: RetryStrategy | None = None
    alert_endpoint: AlertEndpoint | None = None
    divert: bool = False
    suspend: bool = False

    def __attrs_post_init__(self) -> None:
        _raise(failure_handling_problems(self))


@attrs.frozen(kw_only=True)
class Webhook:
    """A webhook subscription as the provider reports it. ``id`` is the provider's id as text."""

    id: str
    name: str
    url: str
    enabled: bool = True
    events: frozenset[str] = attrs.field(default=frozenset(), converter=name_set)
    all_events: bool = False
    secret: Secret | None = attrs.field(default=None, converter=_secret)
    description: str | None = None
    headers: Headers = attrs.field(default=NO_HEADERS, converter=_headers)
    suspended: bool = False
    suspended_at: datetime | None = None
    allow_insecure_ssl: bool = False
    failure_handling: FailureHandling | None = None
    provider: str = ""
    account: str = ""
    #: Whether the webhook has a secret, as far as the provider tells; ``secret`` holds the
    #: value only where the provider returns it. Derived from ``secret`` unless an adapter knows
    #: better (a provider that stores a secret but shows only that one is set).
    secret_state: SecretState = attrs.field(
        default=attrs.Factory(lambda self: "set" if self.secret else "unset", takes_self=True)
    )
    #: Provider-only settings (e.g. Enterprise Core's endpoint ``tag``), by the provider's name.
    extras: Extras = attrs.field(default=NO_EXTRAS, converter=_extras)


@attrs.frozen(kw_only=True)
class WebhookSpec:
    """What ``create`` takes: a webhook without id or suspension state."""

    name: str
    url: str
    events: frozenset[str] = attrs.field(default=frozenset(), converter=name_set)
    all_events: bool = False
    enabled: bool = True
    secret: Secret | None = attrs.field(default=None, converter=_secret)
    description: str | None = None
    headers: Headers = attrs.field(default=NO_HEADERS, converter=_headers)
    allow_insecure_ssl: bool = False
    failure_handling: FailureHandling | None = None
    extras: Extras = attrs.field(default=NO_EXTRAS, converter=_extras)

    def __attrs_post_init__(self) -> None:
        problems = [*_name_problems(self.name, "name"), *_url_problems(self.url, "url")]
        problems += _secret_problems(self.secret, "secret")
        problems += _description_problems(self.description, "description")
        problems += _event_problems(self.events, "events")
        problems += _header_problems(self.headers, "headers")
        problems += _extras_problems(self.extras, "extras")
        _raise(problems)

    def set_fields(self) -> frozenset[str]:
        """The optional fields this spec gives a value other than the default."""
        defaults = WebhookSpec(name=self.name, url=self.url)
        return frozenset(
            f.name
            for f in attrs.fields(WebhookSpec)
            if f.name not in ("name", "url", "extras")
            and getattr(self, f.name) != getattr(defaults, f.name)
        )

    def to_webhook(self, id: str, *, provider: str = "", account: str = "") -> Webhook:
        """The webhook this spec describes, as a provider storing every field would report it."""
        values = attrs.asdict(self, recurse=False)
        return Webhook(id=id, provider=provider, account=account, **values)

    def extra_paths(self) -> dict[str, str]:
        """``{"extras.tag": "extras.tag", ...}``: each provider extra this spec sets."""
        return {f"extras.{k}": f"extras.{k}" for k in self.extras}


#: The scalar fields a ``WebhookChange`` may set; each keeps its value while ``UNSET``.
SCALAR_FIELDS: Final = (
    "name",
    "url",
    "enabled",
    "all_events",
    "secret",
    "description",
    "allow_insecure_ssl",
    "failure_handling",
)


@attrs.frozen(kw_only=True)
class WebhookChange:
    """An update: new values for scalar fields plus add/remove sets for events and headers.

    ``secret``, ``description`` and ``failure_handling`` may be set to ``None`` to clear them
    (for failure handling that means the provider's default).
    """

    name: str | Unset = UNSET
    url: str | Unset = UNSET
    enabled: bool | Unset = UNSET
    all_events: bool | Unset = UNSET
    secret: Secret | Unset | None = attrs.field(default=UNSET, converter=_maybe_secret)
    description: str | Unset | None = UNSET
    allow_insecure_ssl: bool | Unset = UNSET
    failure_handling: FailureHandling | Unset | None = UNSET
    add_events: frozenset[str] = attrs.field(default=frozenset(), converter=name_set)
    remove_events: frozenset[str] = attrs.field(default=frozenset(), converter=name_set)
    add_headers: Headers = attrs.field(default=NO_HEADERS, converter=_headers)
    remove_headers: frozenset[str] = attrs.field(default=frozenset(), converter=name_set)
    #: New values of provider extras (the others keep theirs).
    extras: Extras = attrs.field(default=NO_EXTRAS, converter=_extras)

    def __attrs_post_init__(self) -> None:
        problems: list[FieldProblem] = []
        if self.name is not UNSET:
            problems += _name_problems(self.name, "name")
        if self.url is not UNSET:
            problems += _url_problems(self.url, "url")
        if self.description is not UNSET:
            problems += _description_problems(self.description, "description")
        if isinstance(self.secret, Secret):
            problems += _secret_problems(self.secret, "secret")
        if self.extras:  # (a change leaves most of these empty: nothing to check)
            problems += _extras_problems(self.extras, "extras")
        if self.add_events:
            problems += _event_problems(self.add_events, "add_events")
        if self.remove_events:
            problems += _event_problems(self.remove_events, "remove_events")
        if self.add_headers:
            problems += _header_problems(self.add_headers, "add_headers")
        if self.remove_headers:
            problems += _name_problems_each(self.remove_headers, "remove_headers")
        _raise(problems)

    def set_fields(self) -> frozenset[str]:
        """The scalar fields this change sets."""
        return self._set

    @functools.cached_property
    def _set(self) -> frozenset[str]:
        return frozenset(f for f in SCALAR_FIELDS if getattr(self, f) is not UNSET)

    def touched_paths(self) -> dict[str, str]:
        """``{change field: model field}`` for every part of this change that does something."""
        return dict(self._touched)

    @functools.cached_property
    def _touched(self) -> dict[str, str]:
        paths = {f: f for f in self.set_fields()}
        for path in ("add_events", "remove_events", "add_headers", "remove_headers"):
            if getattr(self, path):
                paths[path] = path.partition("_")[2]
        paths |= {f"extras.{k}": f"extras.{k}" for k in self.extras}
        return paths

    def touched_fields(self) -> frozenset[str]:
        """Every model field this change may alter (scalars, ``events``, ``headers``)."""
        return frozenset(self._touched.values())

    @property
    def is_empty(self) -> bool:
        return not self.touched_fields()

    def then(self, later: WebhookChange) -> WebhookChange:
        """One change that does this one and then ``later``: ``c.then(d).apply(w) ==
        d.apply(c.apply(w))`` for every webhook ``w`` (tests/test_model_laws.py). What merges
        the changes waiting for one webhook into a single write. Pure."""
        scalars = {f: getattr(self, f) for f in self.set_fields()}
        scalars |= {f: getattr(later, f) for f in later.set_fields()}
        kept_headers = {k: v for k, v in self.add_headers.items() if k not in later.remove_headers}
        return WebhookChange(
            **scalars,
            add_events=(self.add_events - later.remove_events) | later.add_events,
            remove_events=self.remove_events | later.remove_events,
            add_headers={**kept_headers, **later.add_headers},
            remove_headers=self.remove_headers | later.remove_headers,
            extras={**self.extras, **later.extras},
        )

    def apply(self, webhook: Webhook) -> Webhook:
        """The webhook after this change: removals first, then additions. Pure."""
        updates: dict[str, Any] = {f: getattr(self, f) for f in self.set_fields()}
        if "secret" in updates:
            updates["secret_state"] = "set" if updates["secret"] else "unset"
        if self.extras:
            updates["extras"] = {**webhook.extras, **self.extras}
        if self.add_events or self.remove_events:
            updates["events"] = (webhook.events - self.remove_events) | self.add_events
        if self.add_headers or self.remove_headers:
            kept = {k: v for k, v in webhook.headers.items() if k not in self.remove_headers}
            updates["headers"] = Headers({**kept, **self.add_headers})
        return attrs.evolve(webhook, **updates) if updates else webhook


@attrs.frozen(kw_only=True)
class ListFilter:
    """What ``list`` may narrow by. ``None`` means "any".

    ``event`` matches webhooks subscribed to that event, including those that subscribe to all
    events (they receive it too); event names compare case-insensitively. ``name`` and ``url``
    compare exactly.
    """

    enabled: bool | None = None
    suspended: bool | None = None
    event: str | None = None
    name: str | None = None
    url: str | None = None

    def matches(self, webhook: Webhook) -> bool:
        if self.enabled is not None and webhook.enabled != self.enabled:
            return False
        if self.suspended is not None and webhook.suspended != self.suspended:
            return False
        if self.name is not None and webhook.name != self.name:
            return False
        if self.url is not None and webhook.url != self.url:
            return False
        if self.event is not None and not webhook.all_events:
            wanted = self.event.casefold()
            return any(e.casefold() == wanted for e in webhook.events)
        return True


@attrs.frozen(kw_only=True)
class PingResult:
    """What a provider answered to a test delivery (``details``: its own fields, no secrets)."""

    event_id: str
    event_type: str = "ping"
    timestamp: datetime | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)


# -- validation -------------------------------------------------------------------------------


def _raise(problems: list[FieldProblem]) -> None:
    if problems:
        raise InvalidRequest(problems=problems)


def text_problem(value: str, *, limit: int = MAX_TEXT_LENGTH) -> str | None:
    """What makes ``value`` unfit to store and read back, or None.

    Control characters (NUL, line breaks, ...) and unpaired surrogates are refused everywhere:
    a provider that stored one answers with text no strict JSON reader accepts, and every later
    list of the account would fail on it.
    """
    if len(value) > limit:
        return f"must be at most {limit} characters, got {len(value)}"
    found = _UNFIT.search(value)
    if found is None:
        return None
    i, code = found.start(), ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"must not contain an unpaired surrogate (U+{code:04X} at {i})"
    return f"must not contain control characters (U+{code:04X} at {i})"


def _secret_problems(secret: Secret | None, path: str) -> list[FieldProblem]:
    """An empty or white-space secret is no secret: refused (clearing one is ``None``)."""
    if secret is not None and not secret.reveal().strip():
        return [FieldProblem(path, "must not be empty or white space (None clears a secret)")]
    return []


def _name_problems(value: object, path: str) -> list[FieldProblem]:
    if not isinstance(value, str):
        return [FieldProblem(path, f"must be a string, not {type(value).__name__}")]
    if not value.strip():
        return [FieldProblem(path, "must not be empty")]
    problem = text_problem(value)
    return [FieldProblem(path, problem)] if problem else []


def _description_problems(value: object, path: str) -> list[FieldProblem]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [FieldProblem(path, f"must be a string, not {type(value).__name__}")]
    problem = text_problem(value.replace("\n", " ").replace("\t", " "))  # line breaks are fine
    return [FieldProblem(path, problem)] if problem else []


def _too_many(
    values: Collection[object], path: str, limit: int = MAX_LIST_LENGTH
) -> list[FieldProblem]:
    count = len(values)
    if count > limit:
        return [FieldProblem(path, f"lists {count} items; at most {limit} are accepted")]
    return []


def _name_problems_each(values: Iterable[object], path: str) -> list[FieldProblem]:
    values = list(values)
    too_many = _too_many(values, path)
    if too_many:
        return too_many
    return [
        p for i, v in enumerate(sorted(values, key=str)) for p in _name_problems(v, f"{path}.{i}")
    ]


def event_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an event name (empty, spaces, control characters), or None."""
    if not name:
        return "must not be empty"
    if _SPACE.search(name):
        return f"event name {name[:64]!r} contains white space"
    return text_problem(name, limit=256)


def _event_problems(events: frozenset[str], path: str) -> list[FieldProblem]:
    too_many = _too_many(events, path)
    if too_many:
        return too_many
    problems = []
    for i, e in enumerate(sorted(events, key=str)):
        problem = event_name_problem(e) if isinstance(e, str) else "must be a string"
        if problem:
            problems.append(FieldProblem(f"{path}.{i}", problem))
    return problems


def _extras_problems(extras: Mapping[str, str], path: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for key, value in extras.items():
        if not isinstance(value, str):
            problems.append(FieldProblem(f"{path}.{key}", "must be a string"))
            continue
        problem = text_problem(value)
        if problem:
            problems.append(FieldProblem(f"{path}.{key}", problem))
    return problems


def _url_problems(value: object, path: str) -> list[FieldProblem]:
    if not isinstance(value, str):
        return [FieldProblem(path, f"must be a string, not {type(value).__name__}")]
    if len(value) > MAX_URL_LENGTH:
        return [
            FieldProblem(path, f"must be at most {MAX_URL_LENGTH} characters, got {len(value)}")
        ]
    if _SPACE.search(value):
        return [FieldProblem(path, "must not contain white space")]
    problem = text_problem(value)
    if problem:
        return [FieldProblem(path, problem)]
    try:
        url = URL(value)
    except ValueError as exc:
        return [FieldProblem(path, f"is not a valid URL ({exc})")]
    if url.scheme not in ("http", "https"):
        return [FieldProblem(path, "must be an absolute http:// or https:// URL")]
    if not url.host:
        return [FieldProblem(path, "must name a host")]
    return []


def _header_problems(headers: Headers, path: str) -> list[FieldProblem]:
    problems = _too_many(headers, path)
    if problems:
        return problems
    for name, values in headers.items():
        if not isinstance(name, str) or len(name) > 256 or not _TOKEN.match(name):
            shown = name[:64] if isinstance(name, str) else repr(name)
            problems.append(FieldProblem(f"{path}.{shown}", "is not a valid HTTP header name"))
            continue
        if len(values) > MAX_HEADER_VALUES:
            problems.append(
                FieldProblem(f"{path}.{name}", f"at most {MAX_HEADER_VALUES} values are accepted")
            )
            continue
        for i, value in enumerate(values):
            if not isinstance(value, str):
                problems.append(FieldProblem(f"{path}.{name}.{i}", "must be a string"))
                continue
            # Header values may hold a tab (RFC 9110 allows HTAB), never another control.
            problem = text_problem(value.replace("\t", " "), limit=8192)
            if problem:
                problems.append(FieldProblem(f"{path}.{name}.{i}", problem))
    return problems


def failure_handling_problems(fh: FailureHandling, path: str = "") -> list[FieldProblem]:
    """Problems with a ``FailureHandling`` value (triggers, retry strategy, alert endpoint).

    Paths are relative to ``path`` (a class validating itself reports ``triggers``; a caller
    that holds it as ``failure_handling`` passes that prefix).
    """
    path = f"{path}." if path else ""
    problems = [
        FieldProblem(f"{path}triggers", f"{t!r} is not {_TRIGGERS_TAKEN}")
        for t in sorted(fh.triggers)
        if t not in DEFAULT_TRIGGERS and not _STATUS_TRIGGER.match(t)
    ]
    rs = fh.retry_strategy
    if rs is not None:
        if rs.type not in ("linear", "exponential"):
            problems.append(
                FieldProblem(f"{path}retry_strategy.type", "must be linear or exponential")
            )
        if not 1 <= rs.attempts <= 10:
            problems.append(FieldProblem(f"{path}retry_strategy.attempts", "must be from 1 to 10"))
        if not 0 <= rs.interval <= MAX_INTERVAL:
            problems.append(
                FieldProblem(f"{path}retry_strategy.interval", f"must be from 0 to {MAX_INTERVAL}")
            )
    if fh.alert_endpoint is not None:
        problems += alert_endpoint_problems(fh.alert_endpoint, f"{path}alert_endpoint")
    return problems


def alert_endpoint_problems(endpoint: AlertEndpoint, path: str) -> list[FieldProblem]:
    """Problems with an ``AlertEndpoint`` (its URL, headers, tag and secret), at ``path``."""
    if not isinstance(endpoint, AlertEndpoint):
        return [FieldProblem(path, "must be an endpoint with a url, not a bare URL string")]
    problems = _url_problems(endpoint.url, f"{path}.url")
    problems += _header_problems(endpoint.headers, f"{path}.headers")
    if endpoint.tag is not None:
        problem = text_problem(endpoint.tag)
        if problem:
            problems.append(FieldProblem(f"{path}.tag", problem))
    problems += _secret_problems(endpoint.secret, f"{path}.secret")
    return problems
