"""The embedded demo: every provider emulator on loopback, seeded, behind the proxy.

``webhook-gateway serve --demo`` calls ``run_demo``: it starts the UiPath, Orchestry (TLS, with a
throw-away CA) and Enterprise Core emulators and a small receiver for deliveries, all on
127.0.0.1; configures one account per provider; seeds each with a few realistic webhooks through
the gateway itself; and serves the proxy, printing its URL, a demo API key and a ready ``curl``
line. Its state store is a SQLite file in a temporary directory (so Idempotency-Key, the audit
log and the rest work as in production); it watches every account every ``WATCH_INTERVAL``
seconds, having looked once before it says it is up; nothing is written outside that directory, and
everything stops, and goes, with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shlex
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web
from cryptography.fernet import Fernet

from gateway.config import GatewayConfig, parse_config
from gateway.emulation import start
from gateway.health.watch import watch_once
from gateway.lifecycle import stop_on_signals
from gateway.model import FailureHandling, RetryStrategy, Secret, WebhookSpec
from gateway.proxy.server import GATEWAY, create_app, start_proxy
from providers.enterprise_core.emulator import ALL_PERMISSIONS, EnterpriseCoreEmulator
from providers.orchestry.emulator import OrchestryEmulator
from providers.uipath.emulator import UiPathEmulator

__all__ = ["Demo", "demo", "run_demo"]


@attrs.define
class Demo:
    """A running demo: where the proxy listens and the keys that open it."""

    url: str
    write_key: str
    read_key: str
    receiver_url: str
    config: GatewayConfig
    received: list[dict[str, Any]]
    #: A config file for the command line, pointing at the same emulators and state.
    cli_config: str = ""
    #: The two demo teams' service keys (issued at run time): ``ops`` has uipath-demo and
    #: orchestry-demo, ``insurance`` has core-demo (docs/access.md).
    team_keys: dict[str, str] = attrs.field(factory=dict)

    def environment(self) -> dict[str, str]:
        """The variables the documented examples use: ``GW``, ``KEY``, ``READ_KEY`` and
        ``WEBHOOK_GATEWAY_CONFIG`` (for the command line)."""
        return {
            "GW": self.url,
            "KEY": self.write_key,
            "READ_KEY": self.read_key,
            **{f"{team.upper()}_KEY": key for team, key in self.team_keys.items()},
            "WEBHOOK_GATEWAY_CONFIG": self.cli_config,
        }

    def first_steps(self) -> list[str]:
        """What to paste into a new shell for the examples of README.md and docs/ to run as
        written: the command on the PATH (the virtual environment's activation, where the demo
        runs from one) and the variables the examples use."""
        exports = " ".join(f"{k}={v}" for k, v in self.environment().items())
        return [_command_on_path(), f"export {exports}"]

    def banner(self) -> str:
        return "\n".join(
            [
                f"webhook-gateway demo on {self.url}",
                f"  API key (write): {self.write_key}",
                f"  API key (read):  {self.read_key}",
                *(f"  team {team!r} key: {key}" for team, key in self.team_keys.items()),
                f"  accounts: {', '.join(self.config.accounts)}",
                f"  deliveries go to {self.receiver_url}",
                f"  console: {self.url}/console (log in with an API key above)",
                "the examples in README.md and docs/ run as written in another shell after:",
                *(f"  {line}" for line in self.first_steps()),
                "try:",
                '  curl -s -H "Authorization: Bearer $KEY" $GW/v1/webhooks',
                "  webhook-gateway list",
                "Ctrl-C stops everything.",
            ]
        )


def _command_on_path() -> str:
    """The shell line that puts ``webhook-gateway`` on the PATH as this process runs it."""
    bin_dir = Path(sys.executable).parent
    activate = bin_dir / "activate"
    if sys.prefix != sys.base_prefix and activate.exists():
        return f"source {shlex.quote(str(activate))}"
    found = shutil.which("webhook-gateway")
    if found is not None and Path(found).parent == bin_dir:
        return f'export PATH="{bin_dir}:$PATH"'
    return f"alias webhook-gateway='{shlex.quote(sys.executable)} -m gateway.cli'"


#: Stable ids of the Enterprise Core webhooks the demo seeds, in order (the docs use them).
CORE_IDS = (
    "01J0Z8Y5W9K6X3M2N4P7Q1R8S5",
    "01J0Z8Y5W9K6X3M2N4P7Q1R8S6",
    "01J0Z8Y5W9K6X3M2N4P7Q1R8S7",
)


async def _receiver(received: list[dict[str, Any]], down: set[str]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        received.append({"path": request.path, "bytes": len(body)})
        if request.path in down:  # a system in maintenance: the delivery fails
            return web.json_response({"error": "maintenance"}, status=503)
        return web.json_response({"received": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return app


@contextlib.asynccontextmanager
async def demo(host: str = "127.0.0.1", port: int = 0, **server: Any) -> AsyncIterator[Demo]:
    """Start the whole demo; stop it on exit (``server``: more ``[server]`` settings)."""
    received: list[dict[str, Any]] = []
    uipath = UiPathEmulator(clients={"demo-client": ("demo-client-secret", ["OR.Webhooks"])})
    core = EnterpriseCoreEmulator(tokens={"demo-core-token": ALL_PERMISSIONS}, locators=CORE_IDS)
    orchestry = OrchestryEmulator(clients={"demo-orchestry-client": "demo-orchestry-secret"})
    runners: list[web.AppRunner] = []
    down = {"/core/legacy", "/uipath/legacy"}  # the legacy system is down while the demo starts
    state = tempfile.TemporaryDirectory(prefix="webhook-gateway-demo-")
    try:
        urls = {}
        for name, app, tls in (
            ("receiver", await _receiver(received, down), None),
            ("uipath", uipath.app(), None),
            ("core", core.app(), None),
            ("orchestry", orchestry.app(), orchestry.ssl_context()),
        ):
            runner, urls[name] = await start(app, ssl_context=tls)
            runners.append(runner)
        write_key, read_key = f"demo-{secrets.token_urlsafe(18)}", secrets.token_urlsafe(18)
        config = parse_config(
            {
                "accounts": {
                    "uipath-demo": {
                        "provider": "uipath",
                        "base_url": urls["uipath"],
                        "identity_url": f"{urls['uipath']}/identity_",
                        "client_id": "demo-client",
                        "client_secret": "demo-client-secret",
                    },
                    "orchestry-demo": {
                        "provider": "orchestry",
                        "base_url": urls["orchestry"],
                        "tenant_id": orchestry.tenant_id,
                        "client_id": "demo-orchestry-client",
                        "client_secret": "demo-orchestry-secret",
                        "scope": orchestry.scope,
                        "authority": f"{urls['orchestry']}/{orchestry.tenant_id}",
                        "ca_bundle": orchestry.ca_path,
                    },
                    "core-demo": {
                        "provider": "enterprise_core",
                        "base_url": urls["core"],
                        "tenant_locator": core.tenant_locator,
                        "token": "demo-core-token",
                    },
                },
                "server": {
                    "host": host,
                    "port": port,
                    "api_keys": [
                        {"name": "demo-write", "scope": "write", "key": write_key},
                        {"name": "demo-read", "scope": "read", "key": read_key},
                    ],
                    **server,
                },
                # Two demo teams: what each may touch (docs/access.md)
                "access": {
                    "grants": [
                        {
                            "who": "group:ops",
                            "can": ["read", "write", "delete", "secrets"],
                            "accounts": ["uipath-demo", "orchestry-demo"],
                        },
                        {
                            "who": "group:insurance",
                            "can": ["read", "write", "delete", "secrets"],
                            "accounts": ["core-demo"],
                        },
                    ]
                },
                # The demo's receiver is on loopback over plain http, and the demo runs
                # offline: names that do not resolve (hooks.example.com) are let through.
                # Link-local and cloud metadata addresses stay refused, on every path.
                "destinations": DEMO_DESTINATIONS,
                "state": {
                    "url": f"sqlite:///{state.name}/state.db",
                    "secrets_key": Fernet.generate_key().decode(),  # for rotate
                },
                # serve watches every account, as in production (health shows its age)
                "watch": {"interval": WATCH_INTERVAL},
            }
        )
        app = create_app(config)
        runner = await start_proxy(app, config.server)
        runners.append(runner)
        bound_host, bound_port = runner.addresses[0][:2]
        url = f"http://{bound_host}:{bound_port}"
        await _seed(app[GATEWAY], urls["receiver"])
        # Events the legacy system fails to take, down for maintenance. Enterprise Core diverts
        # its event and suspends the webhook; UiPath's breaker disables its webhook. The
        # system is back by the time the demo is up: a resend succeeds.
        await core.fire("policy.quote.issue", {"policyLocator": "DEMO-POLICY-1"})
        # Orchestrator's circuit breaker disables a webhook whose delivery fails, for an hour.
        await uipath.fire("robot.created")
        down.clear()
        await watch_once(app[GATEWAY])  # health from the first second, as the demo stands
        cli_config = Path(state.name) / "gateway.toml"
        cli_config.write_text(_cli_config(config, state.name), encoding="utf-8")
        team_keys = await _team_keys(app[GATEWAY])
        yield Demo(url, write_key, read_key, urls["receiver"], config, received, str(cli_config),
                   team_keys)  # fmt: skip
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        orchestry.close()
        state.cleanup()


async def _team_keys(gw: Any) -> dict[str, str]:
    """A service key for each demo team, issued at run time (as ``POST /v1/keys`` does)."""
    from gateway.operations import Operations, Principal

    ops, admin = Operations(gw), Principal.local("library")
    keys = {}
    for team in ("ops", "insurance"):
        issued = await ops.create_key(admin, {"name": f"{team}-svc", "team": team,
                                              "expires_in_days": 1})  # fmt: skip
        keys[team] = issued.value
    return keys


async def _seed(gw: Any, receiver: str) -> None:
    """A few realistic webhooks per account, created through the gateway itself."""
    core_failures = FailureHandling(
        retry_strategy=RetryStrategy(type="exponential", interval=5, attempts=3),
        divert=True,
        suspend=True,
    )
    seeds = {
        "uipath-demo": [
            WebhookSpec(
                name="jobs-to-ops",
                url=f"{receiver}/uipath/jobs",
                events={"job.completed", "job.faulted"},
                secret="demo-signing-secret",
                description="Job outcomes for the ops channel",
            ),
            WebhookSpec(
                name="queue-audit", url=f"{receiver}/uipath/queues", all_events=True, enabled=False
            ),
            WebhookSpec(
                name="robots-to-legacy", url=f"{receiver}/uipath/legacy", events={"robot.created"}
            ),
        ],
        "orchestry-demo": [
            WebhookSpec(
                name="workspace-ready",
                url=f"{receiver}/orchestry/ready",
                events={"provisioning.completed"},
                secret="demo-orchestry-hook",
            ),
            WebhookSpec(
                name="approvals",
                url=f"{receiver}/orchestry/approvals",
                events={"approval.requested"},
            ),
        ],
        "core-demo": [
            WebhookSpec(
                name="policy-issued",
                url=f"{receiver}/core/policies",
                events={"policy.quote.issue", "policy.cancellation.issue"},
                headers={"X-Team": "underwriting"},
                failure_handling=core_failures,
            ),
            WebhookSpec(
                name="policy-status",
                url=f"{receiver}/core/status",
                events={"policy.cancellation.issue", "policy.status.update"},
            ),
            WebhookSpec(
                name="quotes-to-legacy",
                url=f"{receiver}/core/legacy",
                events={"policy.quote.issue"},
                failure_handling=FailureHandling(divert=True, suspend=True),
            ),
        ],
    }
    for account, specs in seeds.items():
        for spec in specs:
            await gw.account(account).create(spec)


#: How often the demo's ``serve`` looks at every account (seconds; ``[watch] interval``).
WATCH_INTERVAL = 30.0

DEMO_DESTINATIONS = {"allow_http": True, "allow_loopback": True, "allow_unresolvable": True}


def _cli_config(config: GatewayConfig, state: str) -> str:
    """The demo's accounts and state as a TOML file for the command line."""
    lines = []
    for name, account in config.accounts.items():
        lines.append(f"[accounts.{name}]")
        lines.append(f'provider = "{account.provider}"')
        for field in attrs.fields(type(account.settings)):
            value = getattr(account.settings, field.name)
            if value is None or value == field.default:
                continue
            shown = value.reveal() if isinstance(value, Secret) else value
            lines.append(f"{field.name} = {json.dumps(shown)}")
        lines.append("")
    lines += ["[destinations]"]  # the same policy for the command line as for the proxy
    lines += [f"{k} = {json.dumps(v)}" for k, v in DEMO_DESTINATIONS.items()]
    lines += ["", "[watch]", f"interval = {WATCH_INTERVAL}"]  # the same freshness as serve's
    lines += ["", "[state]", f'url = "sqlite:///{state}/state.db"']
    if config.state is not None and config.state.secrets_key is not None:
        lines.append(f'secrets_key = "{config.state.secrets_key.reveal()}"')
    lines.append("")
    return "\n".join(lines)


async def _serve_demo(host: str, port: int) -> None:
    stop = stop_on_signals()
    async with demo(host, port) as running:
        print(running.banner(), flush=True)
        await stop.wait()


def run_demo(host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the demo until interrupted."""
    asyncio.run(_serve_demo(host, port))
