"""``webhook-gateway serve`` as a real process, for tests of what only a process shows: signals
(SIGHUP, SIGTERM), its exit status."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path


async def serve(
    config: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> asyncio.subprocess.Process:
    """Start ``serve --config config`` (with more ``env``, in ``cwd``); return once it listens
    (it said so)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "serve", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}, cwd=cwd,
    )  # fmt: skip
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line:
            process.kill()
            raise AssertionError("serve ended before it listened")
        if b"webhook-gateway on" in line:
            return process
