"""What it takes to turn a webhook as it is into one a manifest describes: a ``WebhookChange``
and its field-by-field account for a plan.

Only what the provider stores is compared (``Capabilities.fields`` and ``extras``). Events
compare in the catalog's spelling; a description of ``""`` is no description. A secret is
compared directly where the provider returns it; else through the fingerprint recorded at the
last apply (``gateway.store``). A secret the provider keeps but neither shows nor was applied by
the gateway (an adopted webhook) is unknown: it is left as it is and recorded as unknown
(``UNKNOWN``), so adopting changes nothing; ``set_unknown`` (``plan --set-unknown-secrets``)
writes the manifest's. A rotation through the gateway since the last apply is its own change
("rotated at T by X", set back by apply) unless the entry says ``secret_rotation =
"external"``: then the secret is set on create and never compared again. A masked or
unreadable value is never written back, and nothing is a change on every plan.

Failure handling is compared field by field (``failure_handling.divert``,
``failure_handling.alert_endpoint.url``, ...). Its alert endpoint's secret follows the same
rules as the webhook's own, with a fingerprint of its own; when any part differs, the whole
failure handling is written (the providers take it whole).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import operator
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from gateway.model import (
    NO_EXTRAS,
    UNSET,
    AlertEndpoint,
    FailureHandling,
    Secret,
    SecretState,
    Webhook,
    WebhookChange,
    WebhookSpec,
    mask_url,
    name_set,
)
from gateway.provider import Capabilities

__all__ = ["UNKNOWN", "Diff", "FieldChange", "Rotation", "diff", "fingerprint"]

#: The fingerprint recorded for a secret adopted without being known (the provider neither
#: shows it nor was it applied by the gateway).
UNKNOWN = "unknown"


@attrs.frozen
class FieldChange:
    """One field as it is and as it will be (JSON values; a secret is never shown)."""

    field: str
    before: Any
    after: Any


@attrs.frozen
class Diff:
    """The fields that differ, and what makes the ``WebhookChange`` (built when applied: a
    plan of thousands of webhooks need not validate thousands of changes it only shows).

    The events' own ``FieldChange`` is made from the change when ``fields`` is read (the plan
    is shown), not while the plan is made: thousands of diffs are compared on the event loop,
    and a plan applied without being shown needs none of them."""

    #: Every field change but the events', in ``fields`` order; the events' goes at
    #: ``_events_at``.
    _others: tuple[FieldChange, ...] = attrs.field(default=(), alias="others")
    notes: tuple[str, ...] = ()
    _parts: Mapping[str, Any] = attrs.field(factory=dict, alias="parts")
    #: Whether the webhook's secret, and the alert endpoint's, are left unknown (adopted
    #: without being known): what the state store records for them then is ``UNKNOWN``.
    secret_unknown: bool = False
    alert_secret_unknown: bool = False
    _events_at: int = attrs.field(default=0, alias="events_at")

    @property
    def fields(self) -> tuple[FieldChange, ...]:
        """Each field that differs as it is and as it will be, in a stable order."""
        if "add_events" not in self._parts:
            return self._others
        removed, added = self._parts["remove_events"], self._parts["add_events"]
        events = FieldChange("events", {"-": sorted(removed)}, {"+": sorted(added)})
        at = self._events_at
        return (*self._others[:at], events, *self._others[at:])

    @property
    def empty(self) -> bool:
        return not self._parts  # every field that differs sets a part of the change

    def sets(self, *names: str) -> bool:
        """Whether the change sets any of the fields ``names`` (``url``, ``failure_handling``)."""
        return not self._parts.keys().isdisjoint(names)

    @property
    def change(self) -> WebhookChange:
        return WebhookChange(**self._parts)


def fingerprint(secret: Secret | None, key: bytes) -> str | None:
    """The keyed hash a secret is remembered by (16 hex digits; None for no secret)."""
    if secret is None:
        return None
    return hmac.new(key, secret.reveal().encode(), hashlib.sha256).hexdigest()[:16]


def _json(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    if attrs.has(type(value)):
        return {k: _json(v) for k, v in attrs.asdict(value, recurse=False).items()}
    return value


def _shown(name: str, value: Any) -> Any:
    """A field's value as a plan shows it: JSON, a URL without its credentials."""
    return mask_url(value) if name == "url" and isinstance(value, str) else _json(value)


#: The plain fields a plan compares, in the order it shows them.
_PLAIN = ("name", "url", "enabled", "all_events", "allow_insecure_ssl")


@attrs.frozen
class _Compared:
    """What of a provider's capabilities ``diff`` looks at, worked out once per provider: the
    plain fields it stores (and one getter of them all, so that equal webhooks cost one tuple
    comparison), and whether it stores descriptions, headers and failure handling."""

    plain: tuple[str, ...]
    get_plain: Any
    description: bool
    headers: bool
    failure_handling: bool


@functools.cache
def _compared(capabilities: Capabilities) -> _Compared:
    stored = capabilities.fields | {"name", "url"}
    plain = tuple(n for n in _PLAIN if n in stored)
    return _Compared(
        plain=plain,
        get_plain=operator.attrgetter(*plain),
        description="description" in stored,
        headers="headers" in stored,
        failure_handling="failure_handling" in stored,
    )


@attrs.frozen
class Rotation:
    """A rotation of the secret through the gateway since the last apply: when, by whom."""

    at: float
    by: str

    def __str__(self) -> str:
        when = datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds")
        return f"rotated at {when} by {self.by}; apply sets the manifest's secret back"


def diff(
    spec: WebhookSpec,
    actual: Webhook,
    capabilities: Capabilities,
    *,
    secret_fingerprint: str | None,
    applied_fingerprint: str | None,
    alert_fingerprint: str | None = None,
    applied_alert_fingerprint: str | None = None,
    compare_secret: bool = True,
    set_unknown: bool = False,
    rotated: Rotation | None = None,
) -> Diff:
    """The change from ``actual`` to ``spec``. ``secret_fingerprint`` is that of ``spec``'s
    secret; ``applied_fingerprint`` the one recorded when a secret was last applied; the
    ``alert_`` pair the same for the failure handling's alert endpoint. ``compare_secret``
    False: the webhook's secret is not the manifest's to compare (``secret_rotation =
    "external"``, or its variable is not set); ``set_unknown``: write a secret that is
    unknown; ``rotated``: a rotation since the last apply."""
    # ``sets``: the WebhookChange's arguments; what it leaves out is its default (no change).
    sets: dict[str, Any] = {}
    secret_unknown = alert_unknown = False
    fields: list[FieldChange] = []
    notes: list[str] = []
    compared = _compared(capabilities)
    if compared.failure_handling:
        fh_fields, fh_notes, alert_unknown = _failure_handling(
            spec.failure_handling,
            actual.failure_handling,
            alert_fingerprint,
            applied_alert_fingerprint,
            set_unknown,
        )
        if fh_fields:
            sets["failure_handling"] = spec.failure_handling
            fields += fh_fields
        notes += fh_notes
    if compared.get_plain(spec) != compared.get_plain(actual):  # else: one comparison for all
        for name in compared.plain:
            want, have = getattr(spec, name), getattr(actual, name)
            if want != have:
                sets[name] = want
                fields.append(FieldChange(name, _shown(name, have), _shown(name, want)))
    if compared.description and (spec.description or None) != (actual.description or None):
        sets["description"] = spec.description
        fields.append(FieldChange("description", actual.description, spec.description))
    events_at = len(fields)
    if not spec.all_events and spec.events != actual.events:  # its FieldChange: Diff.fields
        sets["add_events"] = name_set(spec.events - actual.events)
        sets["remove_events"] = name_set(actual.events - spec.events)
    # (``is not`` first: most webhooks have none on either side, one shared empty map)
    if compared.headers and spec.headers is not actual.headers and spec.headers != actual.headers:
        add_headers = {n: v for n, v in spec.headers.items() if actual.headers.get(n) != v}
        remove_headers = frozenset(actual.headers) - frozenset(spec.headers)
        if add_headers or remove_headers:
            sets["add_headers"], sets["remove_headers"] = add_headers, remove_headers
            fields.append(FieldChange(
                "headers",
                {n: list(actual.headers[n]) for n in sorted(remove_headers | set(add_headers))
                 if n in actual.headers},
                {n: list(v) for n, v in sorted(add_headers.items())},
            ))  # fmt: skip
    extras = {
        n: v for n, v in spec.extras.items()
        if n in capabilities.extras and actual.extras.get(n) != v
        and not (n in capabilities.blank_extras and not v and not actual.extras.get(n))
    } if spec.extras is not NO_EXTRAS and spec.extras else None  # fmt: skip
    if extras:
        sets["extras"] = extras
        fields.append(FieldChange(
            "extras", {n: actual.extras.get(n) for n in extras}, dict(extras)
        ))  # fmt: skip
    if compare_secret and (spec.secret is not None or actual.secret_state == "set"):  # noqa: S105
        # (no secret wanted and none set: nothing to say, the case of most webhooks)
        secret, note, secret_unknown = _secret(
            spec.secret, actual.secret, actual.secret_state, secret_fingerprint,
            applied_fingerprint, set_unknown=set_unknown, rotated=rotated,
        )  # fmt: skip
        if secret is not UNSET:
            sets["secret"] = secret
            fields.append(FieldChange("secret", actual.secret_state, note))
        elif note:
            notes.append(f"secret: {note}")
    return Diff(tuple(fields), tuple(notes), sets, secret_unknown, alert_unknown, events_at)


def _secret(
    wanted: Secret | None,
    shown: Secret | None,
    state: SecretState,
    want: str | None,
    applied: str | None,
    *,
    set_unknown: bool = False,
    rotated: Rotation | None = None,
) -> tuple[Secret | Any | None, str | None, bool]:
    """``(new secret or UNSET, what the plan says, whether it is left unknown)``: ``wanted``
    is the manifest's secret, ``shown`` the one the provider returned (if it does), ``state``
    whether there is one ("set", "unset" or "unknown": a state, not a secret), ``want`` and
    ``applied`` the fingerprints of ``wanted`` and of what was applied last (``UNKNOWN``:
    adopted without being known)."""
    has_one = state != "unset"
    if wanted is None:
        return (None, "removed", False) if state == "set" else (UNSET, None, False)
    if shown is not None:  # the provider returns it: compare directly
        if shown.reveal() == wanted.reveal():
            return UNSET, None, False
        return wanted, str(rotated) if rotated else "rotated", False
    if rotated is not None and has_one:  # rotated since the last apply: not the manifest's
        return wanted, str(rotated), False
    if applied is not None and applied != UNKNOWN:  # compare with what was applied last
        if applied == want and has_one:
            return UNSET, None, False
        return wanted, "rotated" if has_one else "set", False
    if not has_one:
        return wanted, "set", False
    # Kept by the provider, neither shown nor applied by the gateway: unknown.
    if set_unknown:
        return wanted, "set (it was unknown: --set-unknown-secrets)", False
    return UNSET, ("unknown (the provider does not show it): left as it is; plan with "
                   "--set-unknown-secrets to set the manifest's"), True  # fmt: skip


_DEFAULT_HANDLING = FailureHandling()
_ALERT_FIELDS = ("url", "headers", "allow_insecure_ssl", "tag")


def _failure_handling(
    want: FailureHandling | None,
    have: FailureHandling | None,
    alert_fp: str | None,
    applied_alert_fp: str | None,
    set_unknown: bool = False,
) -> tuple[list[FieldChange], list[str], bool]:
    """The failure handling's fields that differ (``failure_handling.<field>``), and notes."""
    want_fh, have_fh = want or _DEFAULT_HANDLING, have or _DEFAULT_HANDLING
    fields = [
        FieldChange(f"failure_handling.{name}", _json(getattr(have_fh, name)),
                    _json(getattr(want_fh, name)))
        for name in ("triggers", "retry_strategy", "divert", "suspend")
        if getattr(want_fh, name) != getattr(have_fh, name)
    ]  # fmt: skip
    notes: list[str] = []
    changes, unknown = _alert_endpoint(want_fh.alert_endpoint, have_fh.alert_endpoint, alert_fp,
                                       applied_alert_fp, notes, set_unknown)  # fmt: skip
    return fields + changes, notes, unknown


def _alert_endpoint(
    want: AlertEndpoint | None,
    have: AlertEndpoint | None,
    want_fp: str | None,
    applied_fp: str | None,
    notes: list[str],
    set_unknown: bool = False,
) -> tuple[list[FieldChange], bool]:
    path = "failure_handling.alert_endpoint"
    if want is None and have is None:
        return [], False
    if want is None or have is None:
        shown = {k: _shown(k, getattr(want or have, k)) for k in _ALERT_FIELDS}
        before, after = (None, shown) if have is None else (shown, None)
        changes = [FieldChange(path, before, after)]
        if want is not None and want.secret is not None:
            changes.append(FieldChange(f"{path}.secret", "unset", "set"))
        return changes, False
    changes = [
        FieldChange(
            f"{path}.{name}", _shown(name, getattr(have, name)), _shown(name, getattr(want, name))
        )
        for name in _ALERT_FIELDS
        if getattr(want, name) != getattr(have, name)
    ]
    secret, note, unknown = _secret(want.secret, have.secret, have.secret_state, want_fp,
                                    applied_fp, set_unknown=set_unknown)  # fmt: skip
    if secret is not UNSET:
        changes.append(FieldChange(f"{path}.secret", have.secret_state, note))
    elif note:
        notes.append(f"{path}.secret: {note}")
    return changes, unknown
