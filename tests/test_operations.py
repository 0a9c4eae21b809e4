"""The operations layer (gateway/operations/): one use case, every front door.

Against the demo's real proxy and emulators: the command line prints the same JSON locally
and with ``--server``; a body with many faults is answered with all of them at once; a read
key's writes exit 4 through the proxy as locally refused input does; the one error table
reads back what it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.errors import (
    ERROR_TABLE,
    ConfigError,
    GatewayError,
    InvalidRequest,
    Unsupported,
    error_from_problem,
    exit_code,
    kind_of,
)
from tests.test_plan import cli, running  # noqa: F401 - the demo fixture
from tests.test_remote_cli import remote

MANIFEST = """
[accounts.uipath-demo.webhooks.parity]
name = "parity"
url = "https://hooks.example.com/parity"
events = ["job.completed"]
"""


def _same_shape_time(local: dict[str, Any], remote_: dict[str, Any], key: str) -> None:
    """Both carry ``key`` as an RFC 3339 UTC time in one form; the rest is equal."""
    form = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    assert form.fullmatch(local[key]) and form.fullmatch(remote_[key]), (local, remote_)
    assert {**local, key: None} == {**remote_, key: None}


async def test_local_and_remote_print_the_same_json(running: Any, tmp_path: Path) -> None:  # noqa: F811
    _, env = running
    writer = remote(env, "KEY")
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST)
    for argv in (
        ("accounts", "--json"),
        ("list", "--json"),
        ("list", "uipath-demo", "--json"),
        ("event-types", "uipath-demo", "--json"),
        ("audit", "--json"),
        ("health", "--json"),
        ("plan", str(manifest), "--json"),
    ):
        code_l, out_l, err_l = await cli(env, tmp_path, *argv)
        code_r, out_r, err_r = await cli(writer, tmp_path, *argv)
        assert (code_l, out_l) == (code_r, out_r), (argv, err_l, err_r)
        json.loads(out_l)
    # rotate: the same answer in the same form (the times are of two rotations)
    _, listed, _ = await cli(env, tmp_path, "list", "uipath-demo", "--json")
    first = json.loads(listed)["items"][0]["id"]
    env["NEW_SECRET"] = writer["NEW_SECRET"] = "a-new-secret-of-the-right-size"
    rotate = ("rotate", "uipath-demo", first, "--secret-env", "NEW_SECRET", "--json")
    code_l, out_l, err_l = await cli(env, tmp_path, *rotate)
    code_r, out_r, err_r = await cli(writer, tmp_path, *rotate)
    assert code_l == code_r == 0, err_l + err_r
    _same_shape_time(json.loads(out_l), json.loads(out_r), "previous_valid_until")


async def test_a_read_keys_write_through_the_proxy_exits_4(running: Any, tmp_path: Path) -> None:  # noqa: F811
    _, env = running
    reader = remote(env, "READ_KEY")
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST)
    code, out, err = await cli(reader, tmp_path, "apply", str(manifest), "--auto-approve")
    assert code == 4, out + err
    assert "may only read" in err
    code, out, err = await cli(reader, tmp_path, "plan", str(manifest))
    assert code == 2, out + err  # planning only reads: a read key may
    code, out, err = await cli(reader, tmp_path, "whoami", "--json")
    assert code == 0 and json.loads(out)["scope"] == "read", err


async def test_a_body_with_many_faults_is_answered_once_with_all(running: Any) -> None:  # noqa: F811
    _, env = running
    body = {
        "name": "",  # empty
        "url": "not a url",  # not a URL
        "events": ["job.complted"],  # not in the catalog
        "enabld": True,  # unknown key, close to one
        "all_events": "yes",  # wrong type
        "headers": {"X-Token": ["t"]},  # UiPath cannot store headers
    }
    async with aiohttp.ClientSession() as http, http.post(
        f"{env['GW']}/v1/accounts/uipath-demo/webhooks", json=body,
        headers={"Authorization": f"Bearer {env['KEY']}"},
    ) as resp:  # fmt: skip
        problem = await resp.json()
    assert resp.status == 400, problem
    by_path = {e["path"]: e["message"] for e in problem["errors"]}
    assert set(by_path) == {"name", "url", "events", "enabld", "all_events", "headers"}, by_path
    assert "did you mean 'enabled'" in by_path["enabld"]
    assert "job.completed" in by_path["events"]  # the suggestion
    assert "cannot store" in by_path["headers"]


@pytest.mark.parametrize("cls", list(ERROR_TABLE))
def test_the_error_table_reads_back_what_it_writes(cls: type[GatewayError]) -> None:
    from gateway.proxy.problems import from_error

    if cls is Unsupported:
        error: GatewayError = Unsupported("uipath", "custom headers")
    elif cls in (InvalidRequest, ConfigError):
        error = cls("bad")
    else:
        error = cls("it failed")
    response = from_error(error)
    body = json.loads(response.body)  # type: ignore[arg-type]
    back = error_from_problem(response.status, body, "http://gw")
    assert kind_of(back) == kind_of(error), (cls, back)
    assert exit_code(back) == exit_code(error) == ERROR_TABLE[cls].exit
    assert back.message == error.message
