"""Configuration: TOML, ${ENV} expansion, key paths on every problem, unknown kinds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway import ConfigError, NotFound, Secret
from gateway.config import load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent

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
    config = load_config(path, env={"GATEWAY_KEY": "s3cret-key-Mw8Rf2Zq3"})
    assert sorted(config.accounts) == ["mem-a", "mem-b"]
    assert config.accounts["mem-a"].settings.page_size == 5
    assert config.accounts["mem-b"].settings.event_types == ("a.one", "a.two")
    assert config.http.read_timeout == 12.5
    assert config.http.retry.max_attempts == 2 and config.http.retry.statuses == {503}
    key = config.server.api_keys[0]
    assert key.key == Secret("s3cret-key-Mw8Rf2Zq3")
    assert "s3cret-key-Mw8Rf2Zq3" not in repr(config)


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
    found = problems(
        '[[server.api_keys]]\nscope = "read"\nkey = "long-enough-key-0123"\n', tmp=tmp_path
    )
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


def test_one_run_reports_every_problem_in_plain_words(tmp_path: Path) -> None:
    found = problems(
        """
        [accounts.orch]
        provider = "uipath"
        base_url = "ftp://nowhere"
        page_sise = 10
        [accounts.orch2]
        provider = "uipath"
        base_url = "https://x.example.com"
        [http]
        connect_timeout = -1
        read_timeout = 0
        [http.retry]
        max_attempts = 0
        statuses = [200, 999, 503]
        [server]
        max_body_bytes = 0
        fanout_concurrency = -1
        port = "8080"
        host = 5
        [[server.api_keys]]
        name = "ci"
        scope = "admin"
        key = "short"
        [[server.api_keys]]
        name = "ci"
        scope = "read"
        key = "long-enough-key-0123"
        """,
        tmp=tmp_path,
    )
    expected = [
        "accounts.orch.page_sise: unknown key; did you mean 'page_size'?",
        "accounts.orch.base_url: must be an http(s) URL",
        "accounts.orch2.identity_url: required field missing",
        "accounts.orch2.client_id: required field missing",
        "accounts.orch2.client_secret: required field missing",
        "http.connect_timeout: must be a number of seconds > 0 and at most 3600",
        "http.read_timeout: must be a number of seconds > 0 and at most 3600",
        "http.retry.max_attempts: must be from 1 to 20",
        "http.retry.statuses: must be HTTP error statuses, 400-599",
        "server.max_body_bytes: must be > 0",
        "server.fanout_concurrency: must be from 1 to 256",
        "server.port: must be an integer, not a string",
        "server.host: must be a string, not an integer",
        "server.api_keys[0].scope: must be one of: read, write",
    ]
    text = "\n".join(found)
    for line in expected:
        assert any(f.startswith(line) for f in found), f"{line!r} not in:\n{text}"
    assert "typing" not in text and "invalid literal" not in text


def test_duplicate_and_short_api_keys_are_refused(tmp_path: Path) -> None:
    found = problems(
        '[[server.api_keys]]\nname = "ci"\nscope = "read"\nkey = "long-enough-key-0123"\n'
        '[[server.api_keys]]\nname = "ci"\nscope = "read"\nkey = "another-long-key-456"\n',
        tmp=tmp_path,
    )
    assert found == ["server.api_keys: two keys are named 'ci'; names must differ"]
    found = problems('[[server.api_keys]]\nname = "ci"\nscope = "read"\nkey = "short"\n',
                     tmp=tmp_path)  # fmt: skip
    assert found[0].startswith("server.api_keys[0].key: must be at least 16 characters")


@pytest.mark.parametrize(
    "key", ["password12345678", "aaaaaaaaaaaaaaaaaaaa", "1234567890123456", "qwertyuiopasdfgh"]
)
def test_api_keys_easy_to_guess_are_refused_without_saying_them(key: str, tmp_path: Path) -> None:
    found = problems(f'[[server.api_keys]]\nname = "ci"\nscope = "read"\nkey = "{key}"\n',
                     tmp=tmp_path)  # fmt: skip
    assert found == [
        "server.api_keys[0].key: is too easy to guess (words, sequences, repeats): "
        "secrets.token_urlsafe(24) makes a good one"
    ]


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("from-a-file-Tq9Xv4Lp2\n")
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[[server.api_keys]]\nname = "ci"\nscope = "write"\nkey = "${file:secret.txt}"\n'
        '[accounts.m]\nprovider = "memory"\n'
    )
    config = load_config(path, env={})
    assert config.server.api_keys[0].key == Secret("from-a-file-Tq9Xv4Lp2")
    path.write_text('[[server.api_keys]]\nname = "ci"\nscope = "write"\nkey = "${file:nope}"\n')
    with pytest.raises(ConfigError, match=r"server\.api_keys\[0\]\.key: cannot read"):
        load_config(path, env={})


def test_a_command_needs_only_the_variables_of_what_it_uses(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[accounts.a]\nprovider = "memory"\n'
        '[accounts.b]\nprovider = "uipath"\nbase_url = "https://b.example.com"\n'
        'token = "${B_TOKEN}"\n'
        '[[server.api_keys]]\nname = "ci"\nscope = "write"\nkey = "${GATEWAY_KEY}"\n'
    )
    config = load_config(path, env={}, accounts=["a"], server=False)
    assert list(config.accounts) == ["a"]
    with pytest.raises(ConfigError) as caught:  # everything: every missing variable at once
        load_config(path, env={})
    assert [p.path for p in caught.value.problems] == ["accounts.b.token", "server.api_keys[0].key"]
    with pytest.raises(NotFound, match="configured: a, b"):
        load_config(path, env={}, accounts=["c"])


def test_the_configuration_doc_example_loads(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    names = ("UIPATH_CLIENT_SECRET", "GATEWAY_DEPLOY_KEY", "PGPASSWORD", "OIDC_CLIENT_SECRET")
    env = {name: "placeholder-value-of-16+" for name in names}
    env["HEALTH_SINK_SECRET"] = env["RELAY_SECRET"] = "whsec_" + "QUJD" * 8  # 24 bytes
    env["UIPATH_HOOK_SECRET"] = env["UIPATH_HOOK_SECRET_PREVIOUS"] = "a-hook-secret"
    env["GATEWAY_SECRETS_KEY"] = "QUJD" * 10 + "QUI="  # Base64 (URL-safe) of 32 bytes
    (tmp_path / "gateway.toml").write_text(example)
    load_config(tmp_path / "gateway.toml", env=env)


def test_watch_needs_state_and_sinks_need_standard_webhooks_secrets(tmp_path: Path) -> None:
    found = problems(
        '[watch]\ninterval = 5\n[[watch.sinks]]\nurl = "http://ops.example.com/in"\n'
        'secret = "plain"\n',
        tmp=tmp_path,
    )
    assert "watch.interval: must be 10 to 86400 seconds" in found
    assert "watch.sinks[0].url: must be an https URL (http only on loopback)" in found
    assert any(
        p.startswith("watch.sinks[0].secret: must be a Standard Webhooks secret") for p in found
    )
    assert "watch: watching needs [state] (where health is kept)" in found
