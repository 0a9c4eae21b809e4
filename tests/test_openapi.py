"""The OpenAPI document: valid, current in docs/, and true to the running demo (schemathesis)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from openapi_spec_validator import validate

from gateway.proxy import openapi
from gateway.proxy.demo import demo

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "openapi.json"


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(openapi.openapi_document())


def test_docs_copy_is_current() -> None:
    assert openapi.main([str(DOC), "--check"]) == 0


async def test_schemathesis_finds_nothing_against_the_demo() -> None:
    """Every answer documented and schema-true; no 5xx; invalid input refused.

    ``positive_data_acceptance`` is left out: valid JSON can still break a provider's rules
    (Orchestry's one event, unknown event names, the destination policy), which no schema says.
    """
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    # The fuzzer sends every operation without a key, and with wrong ones: more than the ten
    # wrong keys a minute one address may present (tests/test_console_sessions.py tests that).
    async with demo(max_failed_keys_per_minute=10000) as running:
        process = await asyncio.create_subprocess_exec(
            st, "run", str(DOC),
            "--url", running.url,
            "-H", f"Authorization: Bearer {running.write_key}",
            "--exclude-checks", "positive_data_acceptance",
            # the console's HTML forms are for people (tests/test_console.py), not fuzzed
            # and the demo has no identity provider: signing people in is 501 there
            # (tests/test_sso.py signs them in against a real one)
            "--exclude-path-regex", "^/console|^/v1/login/",
            "--max-examples", "20",
            "--seed", "20261123",
            "--generation-database", "none",
            # the diverted-event routes need ids of events that failed; generated ones are 404
            "--warnings", "missing_auth",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    text = output.decode()
    assert process.returncode == 0, text[-6000:]
    assert "No issues found" in text


def _served_routes() -> set[tuple[str, str]]:
    """Every ``(method, path)`` the proxy's application serves, its sub-applications' too."""
    from aiohttp import web

    from gateway.config import parse_config
    from gateway.proxy.server import create_app

    app = create_app(parse_config({"accounts": {"mem": {"provider": "memory"}}}))
    found: set[tuple[str, str]] = set()

    def walk(application: web.Application) -> None:
        for resource in application.router.resources():
            if isinstance(resource, web.PrefixedSubAppResource):
                walk(resource._app)
                continue
            for route in resource:
                if route.method in ("HEAD", "OPTIONS"):
                    continue
                methods = ["get", "post"] if route.method == "*" else [route.method.lower()]
                found.update((m, resource.canonical) for m in methods)

    walk(app)
    return found


def test_every_route_is_in_the_document_and_nothing_else() -> None:
    documented = {
        (method, path)
        for path, operations in openapi.openapi_document()["paths"].items()
        for method in operations
    }
    served = _served_routes()
    assert served - documented == set(), "routes the OpenAPI document lacks"
    assert documented - served == set(), "documented routes the app does not serve"
