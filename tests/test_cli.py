"""The command line, driven in-process against the memory provider."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
import tomllib
from pathlib import Path

import pytest

import gateway
from gateway import Gateway
from gateway.cli import build_parser, main
from gateway.config import parse_config
from gateway.lifecycle import plain_failures as _plain_failures
from tests.conftest import Receiver, UiPathHarness

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """
[accounts.mem]
provider = "memory"
event_types = ["job.completed", "job.faulted"]
"""


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_prints_the_webhook_without_its_secret(
    config: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "cli-s3cr3t")
    code, out, err = run(
        capsys,
        "create", "mem", "--config", config, "--json", "--name", "jobs",
        "--url", "https://hooks.example.com/jobs", "--event", "JOB.Completed",
        "--header", "X-Team: ops", "--secret-env", "HOOK_SECRET",
    )  # fmt: skip
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert body["events"] == ["job.completed"]  # canonical spelling
    assert body["headers"] == {"X-Team": ["ops"]}
    assert body["secret"] == "***"
    assert "cli-s3cr3t" not in out


def test_table_output(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "event-types", "mem", "--config", config)
    assert code == 0
    assert out.splitlines() == [
        "NAME           GROUP  DESCRIPTION",
        "job.completed  job    -",
        "job.faulted    job    -",
    ]
    code, out, _ = run(capsys, "accounts", "--config", config)
    assert out.splitlines()[1].startswith("mem   memory")


def test_bad_input_exits_4_with_the_field_path(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "create", "mem", "--config", config, "--name", "n",
        "--url", "https://h.example.com", "--event", "job.complete",
    )  # fmt: skip
    assert (code, out) == (4, "")
    assert "events: unknown event 'job.complete' (did you mean job.completed" in err


def test_not_found_exits_3(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "get", "mem", "42", "--config", config)
    assert (code, out) == (3, "")
    assert err.startswith("error: memory:mem: webhook 42 not found")
    code, _, err = run(capsys, "get", "nope", "42", "--config", config)
    assert code == 3
    assert "no account named 'nope' (configured: mem)" in err


def test_an_alert_endpoint_takes_its_secret_from_the_environment(
    config: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ALERT_SECRET", "cli-alert-s3cr3t")
    body = tmp_path / "spec.json"
    body.write_text(json.dumps({"failure_handling": {
        "divert": True, "alert_endpoint": {"url": "https://alerts.example.com/in"}}}))  # fmt: skip
    code, out, err = run(
        capsys,
        "create", "mem", "--config", config, "--json", "--name", "alerts",
        "--url", "https://hooks.example.com/a", "--event", "job.completed",
        "--body", str(body), "--alert-secret-env", "ALERT_SECRET",
    )  # fmt: skip
    assert (code, err) == (0, "")
    alert = json.loads(out)["failure_handling"]["alert_endpoint"]
    assert alert["url"] == "https://alerts.example.com/in"
    assert (alert["secret"], alert["secret_state"]) == ("***", "set")
    assert "cli-alert-s3cr3t" not in out
    code, _, err = run(
        capsys, "update", "mem", "1", "--config", config, "--alert-secret-env", "ALERT_SECRET"
    )
    assert code == 2 and "--alert-secret-env: give the alert endpoint in --body" in err


def test_secret_env_must_exist(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "update", "mem", "1", "--config", config, "--secret-env", "NO_SUCH_VARIABLE_X"
    )
    assert code == 2
    assert "--secret-env: environment variable NO_SUCH_VARIABLE_X is not set" in err


def test_check_config_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[accounts.a]\nprovider = "memory"\npage_size = 0\ncolour = 1\n[server]\nport = -1\n'
    )
    code, _, err = run(capsys, "check-config", str(bad))
    assert code == 2
    assert "accounts.a.colour: unknown key" in err
    assert "accounts.a.page_size: must be from 1 to 1000" in err
    assert "server.port: must be 0-65535" in err


def test_check_config_ok(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check-config", config)
    assert (code, out.strip()) == (0, f"{config}: ok (1 account(s): mem (memory))")


def test_every_command_has_help_with_an_example() -> None:
    parser = build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands: dict[str, argparse.ArgumentParser] = action.choices
    assert set(commands) >= {
        "check-config", "accounts", "list", "get", "create", "update",
        "delete", "ping", "event-types", "unsuspend",
    }  # fmt: skip
    for name, sub in commands.items():
        example = sub.format_help().partition("example:\n  ")[2]
        assert "webhook-gateway " + name in example, name


async def cli(*argv: str) -> tuple[int, str, str]:
    """``webhook-gateway ARGV`` in a subprocess (the emulators run on this test's loop)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_against_the_uipath_emulator(
    uipath: UiPathHarness, receiver: Receiver, tmp_path: Path
) -> None:
    table = uipath.account()
    config = tmp_path / "gateway.toml"
    config.write_text(
        "[destinations]\nallow_http = true\nallow_loopback = true\n[accounts.orch]\n"
        + "".join(f'{k} = "{v}"\n' for k, v in table.items())
    )
    cfg = ("--config", str(config))
    code, out, err = await cli(
        "create", "orch", *cfg, "--json", "--name", "jobs", "--url", f"{receiver.url}/jobs",
        "--event", "job.completed",
    )  # fmt: skip
    assert code == 0, err
    made = json.loads(out)
    code, out, _ = await cli(
        "update", "orch", made["id"], *cfg, "--add-event", "job.faulted",
        "--remove-event", "job.completed", "--add-event", "job.completed",
    )  # fmt: skip
    assert code == 0 and "job.completed" in out and "job.faulted" in out
    code, out, _ = await cli("list", "orch", *cfg, "--event", "JOB.FAULTED")
    header = ["ID", "NAME", "ENABLED", "SUSPENDED", "SECRET", "EVENTS", "URL"]
    assert out.splitlines()[0].split() == header
    assert out.splitlines()[1].split()[:5] == [made["id"], "jobs", "true", "false", "unset"]
    code, out, _ = await cli("ping", "orch", made["id"], *cfg, "--json")
    assert code == 0 and json.loads(out)["event_type"] == "ping"
    assert len(receiver.received) == 1
    code, _, err = await cli("unsuspend", "orch", made["id"], *cfg)
    assert code == 4 and "uipath does not support unsuspend" in err
    code, _, err = await cli("delete", "orch", made["id"], *cfg)  # not a terminal: not done
    assert code == 2 and "pass --yes" in err
    assert (await cli("delete", "orch", made["id"], *cfg, "--yes"))[0] == 0
    code, _, err = await cli("get", "orch", made["id"], *cfg)
    assert code == 3 and "Webhook does not exist." in err


def test_cli_writes_are_audited_as_the_os_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG + f'\n[state]\nurl = "sqlite:///{tmp_path}/state.db"\n')
    monkeypatch.setenv("HOOK_SECRET", "cli-audit-s3cr3t")
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    code, _, _ = run(
        capsys, "create", "mem", "--config", str(path), "--name", "jobs",
        "--url", "https://hooks.example.com/jobs", "--event", "job.completed",
        "--secret-env", "HOOK_SECRET",
    )  # fmt: skip
    assert code == 0
    assert run(capsys, "delete", "mem", "404", "--config", str(path), "--yes")[0] == 3
    code, out, _ = run(capsys, "audit", "--config", str(path), "--account", "mem", "--json")
    entries = json.loads(out)["items"]
    assert [(e["operation"], e["outcome"]) for e in entries] == [
        ("delete", "NotFound"), ("create", "ok"),
    ]  # fmt: skip
    assert {e["actor"] for e in entries} == {"cli:alice"}
    assert entries[1]["change"]["secret"]["changed"] is True
    assert "cli-audit-s3cr3t" not in out
    code, out, _ = run(capsys, "audit", "--config", str(path))
    assert code == 0 and "cli:alice" in out and "OPERATION" in out


def test_audit_without_a_store_is_a_config_error(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "audit", "--config", config)
    assert code == 2 and "[state] url" in err


def test_version_completion_and_usage_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"webhook-gateway {gateway.__version__}"
    with pytest.raises(SystemExit):
        main(["--print-completion", "bash"])
    assert "complete" in capsys.readouterr().out
    for argv, usage in (
        (["list", "--help"], "usage: webhook-gateway list"),
        (["emulate", "uipath", "--help"], "usage: webhook-gateway emulate uipath"),
        (["--help"], "exit status:"),
    ):
        with pytest.raises(SystemExit):
            main(argv)
        assert usage in capsys.readouterr().out


def test_errors_are_json_with_json_and_exit_codes_say_the_kind(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "get", "mem", "42", "--config", config, "--json")
    error = json.loads(err)["error"]
    assert (code, out) == (3, "")
    assert error["type"] == "NotFound" and error["exit_code"] == 3
    assert error["provider"] == "memory" and error["account"] == "mem"
    code, _, err = run(capsys, "create", "mem", "--config", config, "--json", "--name", "n",
                       "--url", "nope")  # fmt: skip
    error = json.loads(err)["error"]
    assert code == 4 and error["problems"][0]["path"] == "url"
    code, _, err = run(capsys, "list", "mem", "--config", "missing.toml", "--json")
    error = json.loads(err)["error"]
    assert code == 2 and "WEBHOOK_GATEWAY_CONFIG" in error["message"]


def test_list_without_an_account_lists_every_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        CONFIG + '[accounts.mem2]\nprovider = "memory"\n'
        '[accounts.down]\nprovider = "uipath"\nbase_url = "http://127.0.0.1:9"\ntoken = "t"\n'
    )
    code, out, err = run(capsys, "list", "--config", str(path), "--json")
    assert code == 0
    body = json.loads(out)
    assert body["items"] == []
    assert [e["account"] for e in body["errors"]] == ["down"]
    assert "warning: down:" in err
    code, out, _ = run(capsys, "list", "--config", str(path))
    assert out.split()[:2] == ["ACCOUNT", "ID"]


def test_only_the_used_accounts_variables_are_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        CONFIG + '[accounts.other]\nprovider = "uipath"\nbase_url = "https://o.example.com"\n'
        'token = "${UNSET_TOKEN_VARIABLE}"\n'
        '[[server.api_keys]]\nname = "ci"\nscope = "write"\nkey = "${UNSET_KEY_VARIABLE}"\n'
    )
    assert run(capsys, "list", "mem", "--config", str(path))[0] == 0
    code, _, err = run(capsys, "check-config", str(path))
    assert code == 2 and "UNSET_TOKEN_VARIABLE" in err and "UNSET_KEY_VARIABLE" in err


def test_the_memory_example_keeps_webhooks_between_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    example = str(ROOT / "examples" / "memory.toml")
    code, out, _ = run(
        capsys, "create", "sandbox", "--config", example, "--json", "--name", "a",
        "--url", "https://hooks.example.com/a", "--event", "invoice.paid",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["id"] == "1"
    code, out, _ = run(capsys, "update", "sandbox", "1", "--config", example, "--json",
                       "--add-event", "order.created")  # fmt: skip
    assert code == 0 and json.loads(out)["events"] == ["invoice.paid", "order.created"]
    assert (tmp_path / "sandbox-webhooks.json").stat().st_mode & 0o777 == 0o600


def test_a_busy_port_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["emulate", "uipath", "--port", str(port)])
        err = capsys.readouterr().err
        assert (code, err) == (2, f"error: port {port} is in use; pass --port (0: any free port)\n")
        path = tmp_path / "gateway.toml"
        path.write_text(CONFIG + '[[server.api_keys]]\nname = "ci"\nscope = "write"\n'
                        'key = "long-enough-key-0123"\n')  # fmt: skip
        code = main(["serve", "--config", str(path), "--port", str(port)])
        err = capsys.readouterr().err
        assert code == 2 and err.endswith(
            f"error: port {port} is in use; pass --port (0: any free port)\n"
        )
        assert "Traceback" not in err


def test_emulate_names_the_kinds_that_have_an_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["emulate", "uipth"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == ("error: no emulator for provider 'uipth'; did you mean 'uipath'? (there are: "
                   "enterprise_core, orchestry, uipath)\n")  # fmt: skip


@pytest.mark.parametrize("provider", ["uipath", "enterprise_core", "orchestry"])
async def test_emulate_prints_credentials_and_a_config_that_works(provider: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "emulate", provider, "--port", "0",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        async with asyncio.timeout(30):
            while not lines or not lines[-1].startswith("  [accounts."):
                lines.append((await proc.stdout.readline()).decode().rstrip("\n"))
            while (line := (await proc.stdout.readline()).decode().rstrip("\n")).strip():
                lines.append(line)
        assert lines[1] == "credentials:"
        snippet = "\n".join(line[2:] for line in lines[lines.index("") + 1 :])
        config = parse_config(tomllib.loads(snippet))
        async with Gateway(config) as gw:
            (name,) = config.accounts
            assert [wh async for wh in gw.account(name).list()] == []
    finally:
        proc.terminate()
        await proc.wait()


def test_a_missing_extra_names_the_install(capsys: pytest.CaptureFixture[str]) -> None:
    for extra, expected in ((None, "server"), ("demo", "demo")):
        with _plain_failures(0, extra=extra) as code:  # as `serve` and `serve --demo` wrap it
            raise ModuleNotFoundError(
                "No module named 'prometheus_client'", name="prometheus_client"
            )
        assert code() == 2
        err = capsys.readouterr().err
        install = f"pip install 'webhook-gateway[{expected}]'"
        assert err == f"error: this needs the {expected!r} extra: {install}\n"
    with pytest.raises(ModuleNotFoundError), _plain_failures(0):  # not an extra's: a real bug
        raise ModuleNotFoundError("No module named 'nope'", name="nope")


async def test_serve_retries_a_store_it_cannot_reach_then_exits_5_in_one_line(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "gateway.toml"
    path.write_text(
        CONFIG
        + f'[state]\nurl = "postgresql://gw:pw@127.0.0.1:{port}/gw"\nconnect_timeout = 1.5\n'
        + '[[server.api_keys]]\nname = "k"\nscope = "read"\nkey = "read-key-Hb4Tn8sPq3Jy"\n'
    )
    started = time.monotonic()
    code, _, err = await cli("serve", "--config", str(path), "--port", "0")
    took = time.monotonic() - started
    assert code == 5, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "PostgreSQL" in lines[0], err
    assert "trying again" in err  # it did retry, for about connect_timeout
    assert 1.5 <= took < 30


def test_control_characters_from_providers_are_printed_never_obeyed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event name or an error text holding ESC/OSC sequences (retitle, clipboard) reaches
    the terminal spelled out; JSON output stays exact."""
    path = tmp_path / "gateway.toml"
    path.write_text('[accounts.mem]\nprovider = "memory"\n'
                    'event_types = ["job.\\u001b]52;c;cHduZWQ=\\u0007x"]\n')  # fmt: skip
    code, out, _ = run(capsys, "event-types", "mem", "--config", str(path))
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "job.\\x1b]52;c;cHduZWQ=\\x07x" in out
    code, out, _ = run(capsys, "event-types", "mem", "--config", str(path), "--json")
    assert json.loads(out)["items"][0]["name"] == "job.\x1b]52;c;cHduZWQ=\x07x"  # exact
