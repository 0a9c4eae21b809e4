"""Providers come from the entry-point group, the built-in ones included."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from gateway import ConfigError, Gateway
from gateway.config import parse_config
from gateway.registry import ENTRY_POINT_GROUP, Registry
from providers.memory import MemoryProvider


def test_builtin_providers_are_entry_points() -> None:
    names = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert names["memory"] == "providers.memory.adapter:MemoryProvider"
    assert Registry().load("memory") is MemoryProvider


def test_unknown_kind_lists_installed_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        Registry().load("smoke-signals", path="accounts.x.provider")
    (problem,) = caught.value.problems
    assert problem.path == "accounts.x.provider"
    assert "smoke-signals" in problem.message and "memory" in problem.message


class OutsideProvider(MemoryProvider):
    """What a third-party package would ship (here registered in-process)."""

    kind = "outside"
    title = "An outside provider"


async def test_an_outside_provider_joins_like_a_builtin() -> None:
    registry = Registry()
    registry.add(OutsideProvider)
    assert "outside" in registry.kinds()
    config = parse_config({"accounts": {"o": {"provider": "outside"}}}, registry=registry)
    async with Gateway(config, registry=registry) as gw:
        (info,) = gw.accounts()
        assert (info.name, info.provider, info.title) == ("o", "outside", "An outside provider")


def test_capabilities_operations_are_derived_from_the_code() -> None:
    ops = MemoryProvider.capabilities.operations
    assert ops == {"list", "get", "create", "update", "delete", "ping", "event_types", "unsuspend"}
