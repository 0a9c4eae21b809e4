"""A typo in an event filter is an error with a suggestion, never a silent empty answer
(issue 41, point 8): through the API, for one account and across accounts, and at the
command line; and lists for scripts (point 9): JSON lines, ``all`` for all events."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.cli import main
from gateway.config import parse_config
from gateway.proxy.server import create_app

AUTH = {"Authorization": "Bearer read-key-Qz8Lm3Vt6Wp1"}
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def config() -> dict[str, Any]:
    return {
        "accounts": {
            "jobs": {"provider": "memory", "event_types": ["job.completed", "job.faulted"]},
            "queues": {"provider": "memory", "event_types": ["queue.item.added"]},
        },
        "server": {"api_keys": [{"name": "r", "scope": "read", "key": AUTH["Authorization"][7:]}]},
    }


async def test_an_unknown_event_filter_is_a_400_with_the_closest_name(
    aiohttp_client: ClientFactory,
) -> None:
    client = await aiohttp_client(create_app(parse_config(config())))
    typo = await client.get("/v1/accounts/jobs/webhooks?event=job.complted", headers=AUTH)
    problem = await typo.json()
    assert typo.status == 400 and problem["errors"][0]["path"] == "event"
    assert "did you mean 'job.completed'" in problem["errors"][0]["message"]
    fine = await client.get("/v1/accounts/jobs/webhooks?event=JOB.COMPLETED", headers=AUTH)
    assert fine.status == 200
    # across accounts: one account that knows it is enough; none is a typo
    assert (await client.get("/v1/webhooks?event=queue.item.added", headers=AUTH)).status == 200
    nowhere = await client.get("/v1/webhooks?event=queue.item.addd", headers=AUTH)
    assert nowhere.status == 400 and "any account" in (await nowhere.json())["errors"][0][
        "message"]  # fmt: skip


def test_the_command_line_says_so_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[accounts.jobs]\nprovider = "memory"\n'
                    'event_types = ["job.completed", "job.faulted"]\n')  # fmt: skip
    code = main(["list", "jobs", "--event", "job.complted", "--config", str(path)])
    assert code == 4 and "did you mean 'job.completed'" in capsys.readouterr().err


def test_lists_print_as_json_lines_and_all_events_as_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[accounts.jobs]\nprovider = "memory"\npath = "{tmp_path}/hooks.json"\n'
                    'event_types = ["job.completed", "job.faulted"]\n')  # fmt: skip
    for name, extra in (("one", ["--event", "job.completed"]), ("every", ["--all-events"])):
        assert main(["create", "jobs", "--config", str(path), "--name", name,
                     "--url", f"https://hooks.example.com/{name}", *extra]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["list", "jobs", "--config", str(path), "--jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["one", "every"]
    assert main(["list", "jobs", "--config", str(path)]) == 0
    rows = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["every"].split()[5] == "all" and "job.completed" in rows["one"]


def test_people_at_a_terminal_get_short_log_lines(tmp_path: Path) -> None:
    """``serve --log-format text`` (``auto`` on a terminal): a short line a request; JSON
    otherwise (issue 41, point 12)."""
    import io

    from gateway import logs

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("INFO", terminal, fmt="auto")
        logs.access_log.write({"method": "GET", "route": "/v1/webhooks", "status": 200,
                               "duration_ms": 3.1, "account": None})  # fmt: skip
        logs.access_log.flush()
        line = terminal.getvalue().strip()
        assert re.fullmatch(r"\d\d:\d\d:\d\d GET /v1/webhooks 200 3\.1 ms", line), line
        logs.configure("INFO", pipe, fmt="auto")
        logs.access_log.write({"method": "GET", "route": "/v1/webhooks", "status": 200,
                               "duration_ms": 3.1, "account": "mem"})  # fmt: skip
        logs.access_log.flush()
        assert json.loads(pipe.getvalue())["route"] == "/v1/webhooks"
    finally:
        logs.access_log.flush()
        logs.access_log.stream = None
        logs.access_log.human = False
        root.handlers[:], root.level = handlers, level
