"""A real OpenID Provider for the tests: the certified npm package ``oidc-provider``, run by
Node on loopback (tests/oidc/provider.mjs: two people, ana in ``billing`` and bob in
``claims``; one confidential client).

The package is installed with npm the first time (into ``$WEBHOOK_GATEWAY_TEST_NPM``, else a
folder under the system's temporary directory, where ``.ci/run`` puts it beforehand).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

__all__ = ["PACKAGE", "free_port", "installed", "oidc_provider"]

PACKAGE = "oidc-provider@8.8.1"
SCRIPT = Path(__file__).parent / "oidc" / "provider.mjs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def installed() -> Path:
    """The folder with ``node_modules/oidc-provider`` (installed now if it is not)."""
    folder = Path(os.environ.get("WEBHOOK_GATEWAY_TEST_NPM")
                  or Path(tempfile.gettempdir()) / "webhook-gateway-oidc")  # fmt: skip
    if not (folder / "node_modules" / "oidc-provider" / "package.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        assert npm, "npm is needed to install the test OpenID Provider"
        command = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund",
                   "--silent", PACKAGE]  # fmt: skip
        subprocess.run(command, check=True, timeout=300)  # noqa: S603 - npm, a fixed package
    shutil.copy(SCRIPT, folder / "provider.mjs")  # resolves the package from its folder
    return folder


@contextlib.asynccontextmanager
async def oidc_provider(
    port: int, client_id: str, client_secret: str, redirect_uris: Sequence[str]
) -> AsyncIterator[str]:
    """A provider on ``127.0.0.1:port`` for the ``redirect_uris``; yields its issuer URL."""
    folder = await asyncio.to_thread(installed)
    node = shutil.which("node")
    assert node, "Node is needed to run the test OpenID Provider"
    process = await asyncio.create_subprocess_exec(
        node, str(folder / "provider.mjs"), str(port), client_id, client_secret,
        *redirect_uris, cwd=folder,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        while True:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            if not line:
                raise RuntimeError("the test OpenID Provider stopped before it was ready")
            if line.strip() == b"ready":
                break

        async def drain() -> None:  # its warnings, so that its pipe never fills
            assert process.stdout is not None
            while await process.stdout.readline():
                pass

        drainer = asyncio.create_task(drain())
        yield f"http://127.0.0.1:{port}"
        drainer.cancel()
    finally:
        process.terminate()
        await process.wait()
