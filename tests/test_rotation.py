"""Secret rotation against the Enterprise Core emulator (which returns secrets): during the
grace period a delivery signed with the previous secret still verifies, after it only the new;
the state store holds both encrypted, never in plain text."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography.fernet import Fernet

from gateway import Gateway, WebhookChange, WebhookSpec, verify
from gateway.cli import main
from gateway.config import parse_config
from gateway.errors import ConfigError, InvalidRequest
from gateway.health.rotation import rotate_secret, verification_secrets
from gateway.model import FailureHandling
from gateway.proxy.server import GATEWAY, create_app
from tests.conftest import (
    EnterpriseCoreHarness,
    OrchestryHarness,
    Receiver,
    create_command,
    memory_state_config,
)
from tests.postgres import create_database, drop_database

OLD = "the-secret-before-rotation-1"


async def test_the_previous_secret_verifies_during_the_grace_period_only(
    enterprise_core: EnterpriseCoreHarness, receiver: Receiver, tmp_path: Path
) -> None:
    config = parse_config({
        "accounts": {"core": enterprise_core.account()},
        "state": {"url": f"sqlite:///{tmp_path}/state.db",
                  "secrets_key": Fernet.generate_key().decode()},
    })  # fmt: skip
    async with Gateway(config) as gw:
        made = await gw.account("core").create(WebhookSpec(
            name="r", url=f"{receiver.url}/r", events={"policy.quote.issue"}, secret=OLD,
            failure_handling=FailureHandling(),
        ))  # fmt: skip
        await enterprise_core.emulator.fire("policy.quote.issue")  # signed with the old secret
        _, old_headers, old_body = receiver.received[-1]
        rotated = await rotate_secret(gw, "core", made.id, grace=3600)
        await enterprise_core.emulator.fire("policy.quote.issue")  # signed with the new one
        _, new_headers, new_body = receiver.received[-1]

        valid = await verification_secrets(gw, "core", made.id)
        assert [s.reveal() for s in valid] == [rotated.secret.reveal(), OLD]
        assert verify("enterprise_core", new_headers, new_body, valid).matched == 0
        assert verify("enterprise_core", old_headers, old_body, valid).matched == 1
        later = time.time() + 3601
        with mock.patch("gateway.health.rotation.time.time", return_value=later):
            after = await verification_secrets(gw, "core", made.id)
        assert [s.reveal() for s in after] == [rotated.secret.reveal()]
        assert not verify("enterprise_core", old_headers, old_body, after).ok
    dump = "\n".join(sqlite3.connect(tmp_path / "state.db").iterdump())
    assert OLD not in dump and rotated.secret.reveal() not in dump


async def test_a_secret_the_provider_hides_must_be_given_and_a_key_is_needed(
    orchestry: OrchestryHarness, tmp_path: Path
) -> None:
    state = {"url": f"sqlite:///{tmp_path}/state.db"}
    config = parse_config({"accounts": {"o": orchestry.account()}, "state": state})
    async with Gateway(config) as gw:
        made = await gw.account("o").create(WebhookSpec(
            name="o", url="https://hooks.example.com/o", events={"approval.requested"}, secret=OLD
        ))  # fmt: skip
        with pytest.raises(ConfigError, match="secrets_key"):
            await rotate_secret(gw, "o", made.id)
    keyed = {**state, "secrets_key": Fernet.generate_key().decode()}
    config = parse_config({"accounts": {"o": orchestry.account()}, "state": keyed})
    async with Gateway(config) as gw:
        with pytest.raises(InvalidRequest, match="does not show the current secret"):
            await rotate_secret(gw, "o", made.id)


async def test_rotation_over_http_and_the_command_line(
    enterprise_core: EnterpriseCoreHarness, tmp_path: Path, aiohttp_client: Any
) -> None:
    key = Fernet.generate_key().decode()
    config = parse_config({
        "accounts": {"core": enterprise_core.account()},
        "state": {"url": f"sqlite:///{tmp_path}/state.db", "secrets_key": key},
        "server": {"api_keys": [{"name": "w", "scope": "write", "key": "rotation-key-Pw4Jh7Bs"}]},
    })  # fmt: skip
    client = await aiohttp_client(create_app(config))
    gw = client.app[GATEWAY]
    made = await gw.account("core").create(WebhookSpec(
        name="h", url="https://hooks.example.com/h", events={"policy.quote.issue"}, secret=OLD,
    ))  # fmt: skip
    auth = {"Authorization": "Bearer rotation-key-Pw4Jh7Bs"}
    resp = await client.post(f"/v1/accounts/core/webhooks/{made.id}/rotate-secret",
                             json={"secret": "new-from-http-0123", "grace_hours": 1},
                             headers=auth)  # fmt: skip
    body = await resp.json()
    assert resp.status == 200 and body["previous_valid_until"] is not None
    assert "new-from-http-0123" not in json.dumps(body)
    valid = await verification_secrets(gw, "core", made.id)
    assert [s.reveal() for s in valid] == ["new-from-http-0123", OLD]
    missing = await client.post(f"/v1/accounts/core/webhooks/{made.id}/rotate-secret",
                                json={}, headers=auth)  # fmt: skip
    assert missing.status == 400


def test_rotate_on_the_command_line_never_loses_the_new_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = memory_state_config(tmp_path, f'secrets_key = "{Fernet.generate_key().decode()}"\n')
    create = create_command(path)
    assert main([*create, "--secret-env", "HOME"]) == 0
    capsys.readouterr()
    # a secret made here that would never be shown: refused, nothing rotated
    assert main(["rotate", "mem", "1", "--config", str(path)]) == 2
    assert "pass --reveal to see it, or --secret-env NAME" in capsys.readouterr().err
    monkeypatch.setenv("NEW_HOOK_SECRET", "my-own-new-secret-0123")
    assert main(["rotate", "mem", "1", "--config", str(path), "--json",
                 "--secret-env", "NEW_HOOK_SECRET"]) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)
    assert shown["secret"] == "***" and shown["previous_valid_until"]  # yours: not printed
    assert main(["rotate", "mem", "1", "--config", str(path), "--json", "--reveal"]) == 0
    assert len(json.loads(capsys.readouterr().out)["secret"]) >= 40


def test_a_declined_delete_says_not_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = memory_state_config(tmp_path)
    create = create_command(path)
    assert main(create) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt: "no")
    assert main(["delete", "mem", "1", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "not deleted" and "error" not in err
    assert main(["get", "mem", "1", "--config", str(path)]) == 0  # still there


@pytest.fixture(params=["sqlite", "postgresql"])
async def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/state.db"
        return
    server = request.getfixturevalue("postgres_server")
    url = await create_database(server)
    yield url
    await drop_database(server, url)


async def test_concurrent_rotations_leave_the_kept_secrets_right(
    enterprise_core: EnterpriseCoreHarness, state_url: str
) -> None:
    """Four rotations of one webhook at once, through two gateways (replicas, on PostgreSQL):
    afterwards the current kept secret is the one the provider signs with, and every
    superseded one is kept until its own grace period ends."""
    url, shared = state_url, state_url.startswith("postgresql")
    key = Fernet.generate_key().decode()
    config = parse_config({"accounts": {"core": enterprise_core.account()},
                           "state": {"url": url, "secrets_key": key}})  # fmt: skip
    one = Gateway(config)
    other = Gateway(config) if shared else one  # a second replica, where replicas share
    async with contextlib.AsyncExitStack() as stack:
        for gw in dict.fromkeys([one, other]):
            await stack.enter_async_context(gw)
        made = await one.account("core").create(WebhookSpec(
            name="r", url="https://hooks.example.com/r", events={"policy.quote.issue"},
            secret=OLD,
        ))  # fmt: skip
        rotations = await asyncio.gather(*(
            rotate_secret(gw, "core", made.id, grace=3600) for gw in (one, other, one, other)
        ))  # fmt: skip
        kept = [s.reveal() for s in await verification_secrets(one, "core", made.id)]
    signing = enterprise_core.emulator.secrets[made.id]
    assert kept[0] == signing  # the current one is the provider's
    superseded = {OLD, *(r.secret.reveal() for r in rotations)} - {signing}
    assert sorted(kept[1:]) == sorted(superseded)
    assert all(r.previous_valid_until is not None for r in rotations)


async def test_an_empty_secret_is_refused_everywhere(
    enterprise_core: EnterpriseCoreHarness, tmp_path: Path
) -> None:
    config = parse_config({"accounts": {"core": enterprise_core.account()},
                           "state": {"url": f"sqlite:///{tmp_path}/state.db",
                                     "secrets_key": Fernet.generate_key().decode()}})  # fmt: skip
    with pytest.raises(InvalidRequest, match="secret: must not be empty"):
        WebhookSpec(name="r", url="https://hooks.example.com/r", secret="   ")
    with pytest.raises(InvalidRequest, match="secret: must not be empty"):
        WebhookChange(secret="")
    async with Gateway(config) as gw:
        made = await gw.account("core").create(WebhookSpec(
            name="r", url="https://hooks.example.com/r", events={"policy.quote.issue"},
            secret=OLD,
        ))  # fmt: skip
        for given in ({"new": " \t"}, {"previous": ""}):
            with pytest.raises(InvalidRequest, match="must not be empty or white space"):
                await rotate_secret(gw, "core", made.id, **given)  # type: ignore[arg-type]
    assert enterprise_core.emulator.secrets[made.id] == OLD  # nothing was written
