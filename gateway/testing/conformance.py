"""The conformance suite every provider runs: one abstract class, fixtures each provider supplies.

An adapter's test file is a small subclass::

    from gateway.testing import ConformanceSetup, ProviderConformance

    class TestMyProvider(ProviderConformance):
        @pytest.fixture
        async def account(self, my_emulator):          # an Account of a live Gateway
            async with Gateway(config_for(my_emulator)) as gw:
                yield gw.account("acct")

        @pytest.fixture
        def setup(self) -> ConformanceSetup:
            return ConformanceSetup(events=("a.one", "a.two", "a.three"), missing_id="999",
                                    page_size=3)

Run it with pytest (``asyncio_mode = "auto"``). Capability differences become skips that say
why; nothing passes silently. The account's provider page size must equal ``setup.page_size``
so that listing really crosses pages.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest

from gateway.errors import InvalidRequest, NotFound, Unsupported
from gateway.model import FailureHandling, ListFilter, Webhook, WebhookChange, WebhookSpec
from gateway.provider import OPTIONAL_FIELDS
from gateway.service import Account

__all__ = ["ConformanceSetup", "ProviderConformance"]


@attrs.frozen(kw_only=True)
class ConformanceSetup:
    """What a provider's test module tells the suite.

    ``events``: at least three distinct event names of the account's catalog.
    ``missing_id``: a well-formed id that no webhook has.
    ``page_size``: the page size the account is configured with (the list test crosses pages).
    ``receiver``: the base URL created webhooks point at.
    ``suspend``: drives a webhook into suspension the way the provider does, where it can.
    ``write_count``: how many write requests the provider has received (proves "before any write").
    """

    events: tuple[str, ...]
    missing_id: str
    page_size: int
    receiver: str = "https://hooks.example.com/receive"
    suspend: Callable[[Account, str], Awaitable[None]] | None = None
    write_count: Callable[[], int] | None = None


#: A value other than the default for each optional field, used to exercise what a provider stores.
SAMPLE_VALUES: dict[str, Any] = {
    "enabled": False,
    "all_events": True,
    "secret": "conformance-secret-7f3a9c",
    "description": "created by the conformance suite",
    "headers": {"X-Env": ("test",), "X-Team": ("payments", "ops")},
    "allow_insecure_ssl": True,
    "failure_handling": FailureHandling(triggers={"5xx", "timeout"}, divert=True),
}


def _unique(prefix: str = "conf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class ProviderConformance:
    """Tests every provider must pass. Subclass it and supply ``account`` and ``setup``."""

    @pytest.fixture
    def account(self) -> Account:
        raise NotImplementedError("the provider's test module supplies the `account` fixture")

    @pytest.fixture
    def setup(self) -> ConformanceSetup:
        raise NotImplementedError("the provider's test module supplies the `setup` fixture")

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _events(account: Account, setup: ConformanceSetup, wanted: int = 2) -> frozenset[str]:
        limit = account.capabilities.max_events
        return frozenset(setup.events[: min(wanted, limit) if limit is not None else wanted])

    def _spec(self, account: Account, setup: ConformanceSetup, **overrides: Any) -> WebhookSpec:
        values: dict[str, Any] = {
            "name": _unique(),
            "url": f"{setup.receiver}/{uuid.uuid4().hex[:8]}",
            "events": self._events(account, setup),
        }
        values.update(overrides)
        return WebhookSpec(**values)

    @staticmethod
    def _view(account: Account, webhook: Webhook) -> Webhook:
        """What the suite compares: secrets only where the provider reports them, and whether
        one is set only where it says."""
        caps = account.capabilities
        if not caps.reports_secret:
            webhook = attrs.evolve(webhook, secret=None)
        if not caps.reports_secret_state:
            webhook = attrs.evolve(webhook, secret_state="unknown")
        return webhook

    @staticmethod
    async def _ids(account: Account) -> list[str]:
        return [wh.id async for wh in account.list()]

    @staticmethod
    def _require(account: Account, operation: str) -> None:
        if not account.capabilities.supports(operation):
            pytest.skip(f"{account.kind} does not support {operation}")

    # -- create / get / list / delete --------------------------------------------------------

    async def test_create_then_get_round_trips(
        self, account: Account, setup: ConformanceSetup
    ) -> None:
        stored = {f: SAMPLE_VALUES[f] for f in account.capabilities.fields if f != "all_events"}
        spec = self._spec(account, setup, **stored)
        created = await account.create(spec)
        assert created.id and isinstance(created.id, str)
        expected = spec.to_webhook(created.id, provider=account.kind, account=account.name)
        assert self._view(account, created) == self._view(account, expected)
        assert await account.get(created.id) == created

    async def test_list_crosses_pages_without_duplicates(
        self, account: Account, setup: ConformanceSetup
    ) -> None:
        made = {
            (await account.create(self._spec(account, setup))).id
            for _ in range(setup.page_size + 1)
        }
        listed = await self._ids(account)
        assert len(listed) == len(set(listed)), "a webhook was listed twice"
        assert made <= set(listed)

    async def test_pages_from_positions_list_everything_once(
        self, account: Account, setup: ConformanceSetup
    ) -> None:
        """``Listing.page`` from each ``next`` gives what ``list`` gives, in order; with
        ``list_page`` each page is read from its position (without, by counting); a position
        ``position_after`` names before a full page is read is the one that page ends at."""
        for _ in range(setup.page_size + 2):
            await account.create(self._spec(account, setup))
        everything = await self._ids(account)
        paged: list[str] = []
        position: str | None = None
        for _ in range(len(everything) + 2):
            guessed = account.provider.position_after(ListFilter(), position, 2)
            page = await account.list().page(position, 2)
            assert len(page.webhooks) <= 2
            if guessed is not None and page.next is not None:
                assert guessed == page.next, "position_after names where no page ends"
            paged += [wh.id for wh in page.webhooks]
            position = page.next
            if position is None:
                break
        assert paged == everything
        if account.capabilities.resumable_list:
            first = await account.provider.list_page(ListFilter(), None, 1)
            assert len(first.records) == 1 and first.next == first.positions[0]

    async def test_get_many_answers_each_id_as_get_does(
        self, account: Account, setup: ConformanceSetup
    ) -> None:
        provider = account.provider
        if not account.capabilities.batch_get:
            pytest.skip(f"{account.kind} reads one webhook a request (no get_many)")
        made = [(await account.create(self._spec(account, setup))).id for _ in range(3)]
        ids = [account.canonical_id(i) for i in [*made, setup.missing_id]]
        found = await provider.get_many(ids)
        assert set(found) == set(ids)
        for id in ids[:3]:
            assert found[id] == await account.get(id)
        assert isinstance(found[ids[3]], NotFound)

    async def test_delete_removes(self, account: Account, setup: ConformanceSetup) -> None:
        created = await account.create(self._spec(account, setup))
        await account.delete(created.id)
        with pytest.raises(NotFound):
            await account.get(created.id)
        assert created.id not in await self._ids(account)

    async def test_unknown_id_is_not_found(self, account: Account, setup: ConformanceSetup) -> None:
        with pytest.raises(NotFound):
            await account.get(setup.missing_id)
        with pytest.raises(NotFound):
            await account.delete(setup.missing_id)
        if account.capabilities.supports("update"):
            with pytest.raises(NotFound):
                await account.update(setup.missing_id, WebhookChange(name=_unique()))

    # -- events --------------------------------------------------------------------------------

    async def test_unknown_event_rejected_before_any_write(
        self, account: Account, setup: ConformanceSetup
    ) -> None:
        if not account.provider.strict_events:
            pytest.skip(f"{account.kind}'s tenants add events of their own: unknown names pass")
        before = await self._ids(account)
        writes = setup.write_count() if setup.write_count else None
        close = setup.events[0][:-1]  # one letter short of a valid name
        spec = self._spec(account, setup, events={"no.such.event", close})
        with pytest.raises(InvalidRequest) as caught:
            await account.create(spec)
        message = str(caught.value)
        assert "no.such.event" in message
        assert f"did you mean {setup.events[0]}" in message, "close matches are named"
        assert "event-types" in message, "the error should say where the valid names are"
        assert [p.path for p in caught.value.problems] == ["events"], "one problem per field"
        assert await self._ids(account) == before
        if setup.write_count:
            assert setup.write_count() == writes

    async def test_malformed_event_rejected_before_any_write(
        self, account: Account, setup: ConformanceSetup
    ) -> None:
        writes = setup.write_count() if setup.write_count else None
        for bad in ("job completed", "tab\tname", "nul\x00", ""):
            with pytest.raises(InvalidRequest):
                await account.create(self._spec(account, setup, events={bad}))
        if setup.write_count:
            assert setup.write_count() == writes

    async def test_event_names_match_case_insensitively(
        self, account: Account, setup: ConformanceSetup
    ) -> None:
        event = setup.events[0]
        created = await account.create(self._spec(account, setup, events={event.upper()}))
        assert created.events == {event}

    async def test_event_count_limits(self, account: Account, setup: ConformanceSetup) -> None:
        limit = account.capabilities.max_events
        if limit is None or limit >= len(setup.events):
            pytest.skip(f"{account.kind} has no event limit below {len(setup.events)}")
        spec = self._spec(account, setup, events=setup.events[: limit + 1])
        with pytest.raises(InvalidRequest, match="at most"):
            await account.create(spec)

    # -- update --------------------------------------------------------------------------------

    def _changes(self, account: Account, setup: ConformanceSetup) -> list[WebhookChange]:
        e0, e1, e2 = setup.events[:3]
        fields = account.capabilities.fields
        changes = [
            WebhookChange(name=_unique("renamed")),
            WebhookChange(url=f"{setup.receiver}/moved"),
        ]
        if account.capabilities.max_events is None or account.capabilities.max_events >= 2:
            changes += [
                WebhookChange(add_events={e2}, remove_events={e0}),
                # An item in both add and remove ends up present.
                WebhookChange(add_events={e0, e2}, remove_events={e0, e1}),
            ]
        if "enabled" in fields:
            changes.append(WebhookChange(enabled=False))
        if "description" in fields:
            changes += [WebhookChange(description="new words"), WebhookChange(description=None)]
        if "headers" in fields:
            changes.append(
                WebhookChange(
                    add_headers={"X-Env": "prod", "X-New": ("a", "b")},
                    remove_headers={"X-Env", "X-Team"},
                )
            )
        if "failure_handling" in fields:
            changes += [
                WebhookChange(failure_handling=FailureHandling(triggers={"500"}, suspend=True)),
                WebhookChange(failure_handling=None),
            ]
        return changes

    async def test_update_equals_apply(self, account: Account, setup: ConformanceSetup) -> None:
        self._require(account, "update")
        extra = {f: SAMPLE_VALUES[f] for f in ("headers",) if f in account.capabilities.fields}
        for change in self._changes(account, setup):
            created = await account.create(self._spec(account, setup, **extra))
            previous = await account.get(created.id)
            result = await account.update(created.id, change)
            expected = change.apply(previous)
            assert self._view(account, result) == self._view(account, expected), change
            assert await account.get(created.id) == result

    async def test_update_rejects_unknown_event_without_writing(
        self, account: Account, setup: ConformanceSetup
    ) -> None:
        self._require(account, "update")
        created = await account.create(self._spec(account, setup))
        with pytest.raises(InvalidRequest, match=r"no\.such\.event"):
            await account.update(created.id, WebhookChange(add_events={"no.such.event"}))
        assert await account.get(created.id) == created

    async def test_settings_the_provider_cannot_store_are_rejected(
        self, account: Account, setup: ConformanceSetup
    ) -> None:
        missing = [f for f in OPTIONAL_FIELDS if f not in account.capabilities.fields]
        if not missing:
            pytest.skip(f"{account.kind} stores every optional field")
        before = await self._ids(account)
        for field in missing:
            with pytest.raises(InvalidRequest) as caught:
                await account.create(self._spec(account, setup, **{field: SAMPLE_VALUES[field]}))
            assert [p.path for p in caught.value.problems] == [field]
        assert await self._ids(account) == before

    # -- filters -------------------------------------------------------------------------------

    async def test_filters(self, account: Account, setup: ConformanceSetup) -> None:
        one = frozenset(setup.events[:1])
        other = frozenset(setup.events[1:2])
        a = await account.create(self._spec(account, setup, events=one))
        b_values: dict[str, Any] = {"events": other}
        if "enabled" in account.capabilities.fields:
            b_values["enabled"] = False
        b = await account.create(self._spec(account, setup, **b_values))

        async def ids(**filters: Any) -> set[str]:
            return {wh.id async for wh in account.list(**filters)}

        assert await ids(name=a.name) == {a.id}
        assert await ids(url=b.url) == {b.id}
        by_event = await ids(event=setup.events[1].upper())
        assert b.id in by_event and a.id not in by_event
        if "enabled" in account.capabilities.fields:
            disabled = await ids(enabled=False)
            assert b.id in disabled and a.id not in disabled
            assert a.id in await ids(enabled=True, name=a.name)
        assert {a.id, b.id} <= await ids(suspended=False)

    # -- ping / unsuspend ----------------------------------------------------------------------

    async def test_ping(self, account: Account, setup: ConformanceSetup) -> None:
        created = await account.create(self._spec(account, setup))
        if not account.capabilities.supports("ping"):
            with pytest.raises(Unsupported, match=account.kind):
                await account.ping(created.id)
            return
        result = await account.ping(created.id)
        assert result.event_id
        with pytest.raises(NotFound):
            await account.ping(setup.missing_id)

    async def test_unsuspend(self, account: Account, setup: ConformanceSetup) -> None:
        created = await account.create(self._spec(account, setup))
        assert created.suspended is False
        if not account.capabilities.supports("unsuspend"):
            with pytest.raises(Unsupported, match=account.kind):
                await account.unsuspend(created.id)
            return
        if setup.suspend is not None:
            await setup.suspend(account, created.id)
            suspended = await account.get(created.id)
            assert suspended.suspended is True and suspended.suspended_at is not None
            assert created.id in {wh.id async for wh in account.list(suspended=True)}
        await account.unsuspend(created.id)
        restored = await account.get(created.id)
        assert restored.suspended is False and restored.suspended_at is None

    # -- secrets -------------------------------------------------------------------------------

    async def test_secrets_are_redacted(
        self, account: Account, setup: ConformanceSetup, caplog: pytest.LogCaptureFixture
    ) -> None:
        if "secret" not in account.capabilities.fields:
            pytest.skip(f"{account.kind} stores no webhook secret")
        caplog.set_level("DEBUG")
        secret = f"s3cr3t-{uuid.uuid4().hex}"
        created = await account.create(self._spec(account, setup, secret=secret))
        listed = [wh async for wh in account.list(name=created.name)]
        fetched = await account.get(created.id)
        for shown in (repr(created), str(created), repr(listed), repr(fetched), caplog.text):
            assert secret not in shown
        if account.capabilities.reports_secret:
            assert fetched.secret is not None and fetched.secret.reveal() == secret
        # a secret that is set never reads back as "no secret"
        expected_state = "set" if account.capabilities.reports_secret_state else "unknown"
        assert fetched.secret_state == expected_state
        assert {wh.secret_state for wh in listed} == {expected_state}
        if account.capabilities.reports_secret_state:
            plain = await account.create(self._spec(account, setup))
            assert (await account.get(plain.id)).secret_state == "unset"
