"""A rolling upgrade on PostgreSQL, with the previous release taken from the project's own git
history (issue 42, point 4): the release before migration 0013 serves, this release's
``migrate`` adds 0013, and the previous release's running replica keeps serving reads and
writes beside this release's new one on the migrated database. A previous-release replica
that starts *after* the migration refuses the newer schema (docs/deploy.md says so)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.cli import main
from tests.conftest import EnterpriseCoreHarness
from tests.oidc_provider import free_port
from tests.serving import serve

ROOT = Path(__file__).resolve().parent.parent
#: The commit that added migration 0013: its parent is the previous release's code.
ADDED_0013 = "e8bdeed"
KEY = "rolling-upgrade-key-Tq8Wz3Lm6Vp1"
HOOK = {"name": "{}", "url": "https://93.184.216.34/{}", "events": ["policy.quote.issue"]}


def _previous_release(into: Path) -> Path:
    """The previous release's code (``gateway/``, ``providers/``), from git history."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no history to take the previous release from")
    try:
        archive = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(ROOT), "archive", f"{ADDED_0013}^", "gateway", "providers"],  # noqa: S607
            capture_output=True, check=True, timeout=60,
        ).stdout  # fmt: skip
    except subprocess.CalledProcessError:
        pytest.skip("a shallow clone: the previous release's commit is not here")
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=60)  # noqa: S603, S607
    assert not (into / "gateway/store/migrations/postgresql/0013_person_sessions.sql").exists()
    return into


def _config(path: Path, account: dict[str, str], database: str, port: int) -> Path:
    body = "\n".join(f'{k} = "{v}"' for k, v in account.items())
    path.write_text(
        f"[accounts.core]\n{body}\n[server]\nport = {port}\n"
        f'[[server.api_keys]]\nname = "ops"\nscope = "write"\nkey = "{KEY}"\n'
        f'[state]\nurl = "{database}"\n'
    )
    return path


async def _create(http: aiohttp.ClientSession, port: int, name: str) -> str:
    hook = {k: (v.format(name) if isinstance(v, str) else v) for k, v in HOOK.items()}
    made = await http.post(f"http://127.0.0.1:{port}/v1/accounts/core/webhooks", json=hook)
    assert made.status == 201, await made.text()
    return str((await made.json())["id"])


async def _names(http: aiohttp.ClientSession, port: int) -> set[str]:
    listed = await http.get(f"http://127.0.0.1:{port}/v1/accounts/core/webhooks")
    assert listed.status == 200, await listed.text()
    return {w["name"] for w in (await listed.json())["items"]}


async def test_the_previous_release_keeps_serving_beside_this_one_after_the_migration(
    enterprise_core: EnterpriseCoreHarness, postgres_url: str, tmp_path: Path
) -> None:
    old_code = _previous_release(tmp_path / "previous")
    old_port, new_port = free_port(), free_port()
    account = enterprise_core.account()
    old_config = _config(tmp_path / "old.toml", account, postgres_url, old_port)
    new_config = _config(tmp_path / "new.toml", account, postgres_url, new_port)
    old_env = {"PYTHONPATH": str(old_code)}
    old = await serve(old_config, env=old_env, cwd=old_code)  # migrates to its 12
    new = None
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
            await _create(http, old_port, "before")
            check = ["migrate", "--check", "--config", str(new_config)]
            assert await asyncio.to_thread(main, check) == 2  # this release's 0013 is pending
            assert await asyncio.to_thread(main, ["migrate", "--config", str(new_config)]) == 0
            new = await serve(new_config)
            # Side by side on the migrated database: each reads the other's writes, and the
            # previous release's writes (and their audit entries) still go through.
            await _create(http, old_port, "old-after")
            await _create(http, new_port, "new-after")
            assert {"before", "old-after", "new-after"} <= await _names(http, old_port)
            assert {"before", "old-after", "new-after"} <= await _names(http, new_port)
            audit = await http.get(f"http://127.0.0.1:{new_port}/v1/audit?account=core")
            operations = [e["operation"] for e in (await audit.json())["items"]]
            assert operations.count("create") == 3
        # A previous-release replica started now refuses the newer schema, and says so (it
        # retries for its connect_timeout first: the previous release took it for an outage).
        late_config = tmp_path / "late.toml"
        late_config.write_text(old_config.read_text() + "connect_timeout = 1\n")
        late = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "serve", "--config", str(late_config),
            cwd=old_code, env={**os.environ, **old_env, "PYTHONUNBUFFERED": "1"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(late.communicate(), 60)
        assert late.returncode != 0 and b"newer than this gateway" in out, out
    finally:
        for process in (old, new):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
