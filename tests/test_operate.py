"""Deploy and operate (issue 42): readiness and shutdown, migrations run explicitly, backups
that restore into a store that plans the same."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import Gateway
from gateway.cli import main
from gateway.config import load_config
from gateway.errors import SchemaNewer, StateUnavailable
from gateway.plan import make_plan, parse_manifest
from gateway.proxy.server import create_app, start_proxy
from gateway.store.sql import migrations
from tests.oidc_provider import free_port
from tests.serving import serve

LATEST = migrations("sqlite")[-1][0]
KEY = "ops-key-Rz4Nq8Lw2Xv6"


def _config(tmp_path: Path, extra: str = "", port: int = 0) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[accounts.mem]\nprovider = "memory"\npath = "{tmp_path}/hooks.json"\n'
        f'event_types = ["order.created"]\n[server]\nport = {port}\n{extra}'
        f'[[server.api_keys]]\nname = "ops"\nscope = "write"\nkey = "{KEY}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n'
    )
    return path


def test_migrate_applies_explicitly_and_check_exits_2_when_pending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path)
    assert main(["migrate", "--check", "--config", str(path)]) == 2
    assert f"{LATEST} migration(s) pending: version 0" in capsys.readouterr().out
    assert main(["migrate", "--config", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"current": LATEST, "expected": LATEST,
                                                   "applied": LATEST}  # fmt: skip
    assert main(["migrate", "--check", "--config", str(path)]) == 0
    assert f"up to date (schema version {LATEST})" in capsys.readouterr().out
    # A later release migrated it: this one says so and does not write.
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST + 1,))
    assert main(["migrate", "--config", str(path)]) == 1
    assert "newer than this release's" in capsys.readouterr().out


async def test_a_manual_store_is_not_migrated_and_a_newer_one_is_refused_at_once(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path, "", 0)
    text = path.read_text().replace("[state]\n", '[state]\nmigrate = "manual"\n')
    path.write_text(text + "connect_timeout = 0\n")
    config = load_config(path)
    with pytest.raises(StateUnavailable, match="run `webhook-gateway migrate`"):
        async with Gateway(config):
            pass
    assert await asyncio.to_thread(main, ["migrate", "--config", str(path)]) == 0
    async with Gateway(config) as gw:
        assert gw.store is not None and await gw.store.schema() == (LATEST, LATEST)
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST + 1,))
    # Automatic migration: a newer schema is refused at once, not retried for connect_timeout.
    path.write_text(text.replace('migrate = "manual"\n', "") + "connect_timeout = 30\n")
    started = time.monotonic()
    with pytest.raises(SchemaNewer, match="a later release migrated it"):
        await start_proxy(create_app(load_config(path)), load_config(path).server)
    assert time.monotonic() - started < 5


async def test_a_manual_replica_listens_not_ready_until_the_schema_is_migrated(
    tmp_path: Path,
) -> None:
    """``[state] migrate = "manual"``: the replica listens at once; /readyz is 503 and says
    why, every other route is 503, until ``migrate`` has run; then it serves."""
    path = _config(tmp_path)
    path.write_text(path.read_text().replace("[state]\n", '[state]\nmigrate = "manual"\n'))
    config = load_config(path)
    runner = await start_proxy(create_app(config), config.server)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    bearer = {"Authorization": f"Bearer {KEY}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(10):
                while True:  # its first try at the store is under way
                    body = await (await http.get(f"{base}/readyz")).json()
                    if "detail" in body:
                        break
                    await asyncio.sleep(0.05)
            assert body["status"] == "starting"
            assert "run `webhook-gateway migrate`" in body["detail"]
            early = await http.get(f"{base}/v1/accounts", headers=bearer)
            assert early.status == 503 and early.headers["Retry-After"] == "5"
            assert (await http.get(f"{base}/healthz")).status == 200  # alive all along
            assert await asyncio.to_thread(main, ["migrate", "--config", str(path)]) == 0
            async with asyncio.timeout(15):
                while (await http.get(f"{base}/readyz")).status != 200:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            assert (await http.get(f"{base}/v1/accounts", headers=bearer)).status == 200
    finally:
        await runner.cleanup()


async def test_readyz_says_when_the_replica_should_get_traffic(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    path = _config(tmp_path)
    client = await aiohttp_client(create_app(load_config(path)))
    ready = await client.get("/readyz")  # no key needed
    assert ready.status == 200
    assert await ready.json() == {"status": "ready", "schema": LATEST}
    # A schema behind this release's (as before a migration Job ran): not ready, and why.
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("DELETE FROM schema_version WHERE version = ?", (LATEST,))
    behind = await client.get("/readyz")
    assert behind.status == 503
    body = await behind.json()
    assert (body["status"], body["schema"], body["expected"]) == ("schema", LATEST - 1, LATEST)
    assert "run `webhook-gateway migrate`" in body["detail"]
    assert (await client.get("/healthz")).status == 200  # alive all the same


async def test_sigterm_turns_readyz_503_at_once_and_finishes_in_flight(tmp_path: Path) -> None:
    port = free_port()
    path = _config(tmp_path, "shutdown_delay = 1.5\n", port)
    process = await serve(path)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            assert (await http.get(f"{base}/readyz")).status == 200
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            stopping = await http.get(f"{base}/readyz")  # still served: not ready
            assert stopping.status == 503 and (await stopping.json())["status"] == "stopping"
            assert (await http.get(f"{base}/healthz")).status == 200
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


MANIFEST = {"accounts": {"mem": {"webhooks": {
    f"hook-{n}": {"name": f"hook-{n}", "url": f"https://93.184.216.34/{n}",
                  "events": ["order.created"]}
    for n in range(5)
}}}}  # fmt: skip


async def test_a_backup_made_under_writes_restores_into_a_store_that_plans_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path)
    config = load_config(path)
    async with Gateway(config) as gw:
        from gateway.plan import apply_plan

        await apply_plan(gw, await make_plan(gw, parse_manifest(MANIFEST, config)))
        assert gw.store is not None
        stop = asyncio.Event()

        async def write() -> int:  # the gateway keeps writing while the backup runs
            from gateway.model import WebhookChange

            n = 0
            while not stop.is_set():
                await gw.account("mem").update("1", WebhookChange(description=f"d{n}"))
                n += 1
            return n

        writer = asyncio.create_task(write())
        await asyncio.sleep(0.1)
        code = await asyncio.to_thread(
            main, ["state", "backup", str(tmp_path / "backup.db"), "--config", str(path)]
        )
        stop.set()
        writes = await writer
        assert code == 0 and writes > 0
        before = (await make_plan(gw, parse_manifest(MANIFEST, config))).to_json()
    assert f"(schema version {LATEST})" in capsys.readouterr().out
    # A fresh store (another machine): restored from the backup, it plans as the old one did.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "hooks.json").write_text((tmp_path / "hooks.json").read_text())
    fresh_path = _config(fresh)
    restore = ["state", "restore", str(tmp_path / "backup.db"), "--config", str(fresh_path)]
    assert await asyncio.to_thread(main, restore) == 0
    assert await asyncio.to_thread(main, restore) == 2  # not over a store without --replace
    fresh_config = load_config(fresh_path)
    async with Gateway(fresh_config) as gw:
        after = (await make_plan(gw, parse_manifest(MANIFEST, fresh_config))).to_json()
        assert gw.store is not None
        assert len(await gw.store.managed("mem", "")) == 5  # ownership came back
    assert after["changes"] == before["changes"] == 1  # (the writes' description)
    assert after["fingerprint"] == before["fingerprint"]
    # Without the backup the same manifest is not the same plan: what the store holds matters.
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "hooks.json").write_text((tmp_path / "hooks.json").read_text())
    empty_config = load_config(_config(empty))
    async with Gateway(empty_config) as gw:
        lost = (await make_plan(gw, parse_manifest(MANIFEST, empty_config))).to_json()
    assert lost["fingerprint"] != before["fingerprint"]


async def test_migrate_on_postgresql_then_replicas_open_without_migrating(
    postgres_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[accounts.mem]\nprovider = "memory"\npath = "{tmp_path}/hooks.json"\n'
        f'[state]\nurl = "{postgres_url}"\nmigrate = "manual"\nconnect_timeout = 0\n'
    )
    latest = migrations("postgresql")[-1][0]
    check = ["migrate", "--check", "--config", str(path)]
    assert await asyncio.to_thread(main, check) == 2
    with pytest.raises(StateUnavailable, match="run `webhook-gateway migrate`"):
        async with Gateway(load_config(path)):
            pass
    # Two migrators at once (two Jobs, or a Job and a replica with migrate = "auto"): the
    # advisory lock lets one apply them; the other finds nothing left to do.
    both = await asyncio.gather(*(asyncio.to_thread(main, ["migrate", "--config", str(path)])
                                  for _ in range(2)))  # fmt: skip
    assert both == [0, 0]
    assert await asyncio.to_thread(main, check) == 0
    async with Gateway(load_config(path)) as gw:
        assert gw.store is not None and await gw.store.schema() == (latest, latest)


async def test_serve_speaks_tls_with_its_certificate(tmp_path: Path) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    tls = f'tls_cert = "{tmp_path}/server.pem"\ntls_key = "{tmp_path}/server.pem"\n'
    config = load_config(_config(tmp_path, tls))
    runner = await start_proxy(create_app(config), config.server)
    try:
        port = runner.addresses[0][1]
        trusted = ssl.create_default_context()
        ca.configure_trust(trusted)
        async with aiohttp.ClientSession() as http:
            assert (await http.get(f"https://127.0.0.1:{port}/healthz", ssl=trusted)).status == 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(f"https://127.0.0.1:{port}/healthz")  # an unknown CA: refused
    finally:
        await runner.cleanup()


def test_tls_needs_both_files_and_plain_http_beyond_loopback_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway.errors import ConfigError
    from gateway.proxy.server import _tls_context

    with pytest.raises(ConfigError, match="tls_key: give tls_cert and tls_key together"):
        load_config(_config(tmp_path, f'tls_cert = "{tmp_path}/x.pem"\n'))
    caplog.set_level("WARNING", "gateway.proxy.server")
    every = "0.0.0.0"  # noqa: S104 - the setting under test
    behind = 'trusted_proxies = ["10.0.0.0/8"]\n'
    for host, proxies, warned in ((every, "", True), ("127.0.0.1", "", False),
                                  (every, behind, False)):  # fmt: skip
        caplog.clear()
        server = load_config(_config(tmp_path, f'host = "{host}"\n{proxies}')).server
        assert _tls_context(server) is None
        said = [r for r in caplog.records if "plain HTTP beyond loopback" in r.getMessage()]
        assert len(said) == (1 if warned else 0), (host, proxies)


async def test_a_manual_replica_that_cannot_start_says_why_and_stays_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.errors import ConfigError
    from gateway.service import Gateway as Facade

    async def broken(self: Facade) -> None:
        raise ConfigError("accounts.mem: no such provider here")

    monkeypatch.setattr(Facade, "open", broken)
    path = _config(tmp_path)
    path.write_text(path.read_text().replace("[state]\n", '[state]\nmigrate = "manual"\n'))
    config = load_config(path)
    runner = await start_proxy(create_app(config), config.server)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http, asyncio.timeout(10):
            while "detail" not in (body := await (await http.get(f"{base}/readyz")).json()):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert body == {"status": "starting",
                        "detail": "the gateway could not start: accounts.mem: no such "
                        "provider here"}  # fmt: skip
    finally:
        await runner.cleanup()
