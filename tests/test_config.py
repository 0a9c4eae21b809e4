"""Configuration: TOML, ${ENV} expansion, key paths on every problem, unknown kinds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway import ConfigError, Secret
from gateway.config import load_config, parse_config

GOOD = f"""
[accounts.mem-a]
provider = "memory"
page_size = 5

[accounts.mem-b]
provider = "memory"
event_types = ["a.one", "a.two"]

[http]
read_timeout = 12.5
[http.retry]
max_attempts = 2
statuses = [503]

[server]
port = 9090
[[server.api_keys]]
name = "ops"
key = "${{GATEWAY_KEY}}"
scope = "write"
[[server.api_keys]]
name = "dash"
key_sha256 = "{hashlib.sha256(b"k").hexdigest()}"
scope = "read"
"""


def problems(text: str, env: dict[str, str] | None = None, tmp: Path | None = None) -> list[str]:
    assert tmp is not None
    path = tmp / "gateway.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    return [str(p) for p in caught.value.problems]


def test_a_good_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(GOOD)
    config = load_config(path, env={"GATEWAY_KEY": "s3cret-key"})
    assert sorted(config.accounts) == ["mem-a", "mem-b"]
    assert config.accounts["mem-a"].settings.page_size == 5
    assert config.accounts["mem-b"].settings.event_types == ("a.one", "a.two")
    assert config.http.read_timeout == 12.5
    assert config.http.retry.max_attempts == 2 and config.http.retry.statuses == {503}
    key = config.server.api_keys[0]
    assert key.key == Secret("s3cret-key")
    assert "s3cret-key" not in repr(config)


def test_every_problem_names_its_key_path(tmp_path: Path) -> None:
    text = """
    unexpected = 1
    [accounts.a]
    provider = "memory"
    page_size = "many"
    colour = "blue"
    [accounts.b]
    page_size = 3
    [accounts.c]
    provider = "carrier-pigeon"
    [server]
    port = 70000
    [[server.api_keys]]
    name = "x"
    scope = "admin"
    key = "${NOPE}"
    """
    found = problems(text, tmp=tmp_path)
    assert "unexpected: unknown key" in found
    assert any(p.startswith("accounts.a.page_size: ") for p in found)
    assert "accounts.a.colour: unknown key" in found
    assert "accounts.b.provider: required field missing (a provider kind)" in found
    assert any(
        p.startswith("accounts.c.provider: unknown provider 'carrier-pigeon'; installed: ")
        and "memory" in p
        for p in found
    )
    assert "server.api_keys[0].key: environment variable NOPE is not set" in found
    assert "server.api_keys[0].scope: must be one of: read, write" in found


def test_field_validators_report_when_the_types_are_right(tmp_path: Path) -> None:
    # cattrs runs validators once every field has the right type, so this shows on its own.
    assert problems("[server]\nport = 70000\n", tmp=tmp_path) == ["server.port: must be 0-65535"]


def test_a_missing_required_field_is_named(tmp_path: Path) -> None:
    found = problems('[[server.api_keys]]\nscope = "read"\nkey = "k"\n', tmp=tmp_path)
    assert found == ["server.api_keys[0].name: required field missing"]


def test_api_key_needs_exactly_one_form(tmp_path: Path) -> None:
    found = problems('[[server.api_keys]]\nname = "x"\nscope = "read"\n', tmp=tmp_path)
    assert found == ["server.api_keys[0].key: give exactly one of key or key_sha256"]
    found = problems(
        '[[server.api_keys]]\nname = "x"\nscope = "read"\nkey_sha256 = "abc"\n', tmp=tmp_path
    )
    assert found == ["server.api_keys[0].key_sha256: must be 64 lower-case hex digits"]


def test_settings_validators_report_the_field(tmp_path: Path) -> None:
    found = problems('[accounts.m]\nprovider = "memory"\npage_size = 0\n', tmp=tmp_path)
    assert found == ["accounts.m.page_size: must be from 1 to 1000"]


def test_env_expansion_and_dollar_escape() -> None:
    config = parse_config(
        {"accounts": {"m": {"provider": "${KIND}", "event_types": ["cost.$$5", "x.${EV}"]}}},
        env={"KIND": "memory", "EV": "done"},
    )
    assert config.accounts["m"].settings.event_types == ("cost.$5", "x.done")


def test_unreadable_and_invalid_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pass --config FILE or set WEBHOOK_GATEWAY_CONFIG"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path)  # a folder
    bad = tmp_path / "bad.toml"
    bad.write_text("[accounts\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
