"""Every example of README.md and docs/ (http-api, plan, cli, access) runs as written
against a fresh demo.

Each document gets a demo of its own; its ``sh`` blocks run in order in bash, in a shell whose
PATH lacks the virtual environment, after the lines the demo prints for a new shell (its
activation, the ``export`` of ``GW``, ``KEY``, ``WEBHOOK_GATEWAY_CONFIG``), with ``curl`` made
to fail on an HTTP error; the README's Python example runs as a script. Set-up blocks (the
``pip install`` lines) are what CI itself runs, so they are left out here. Problem ``type``
links must name anchors that exist in http-api.md.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from gateway.errors import ERROR_TABLE, problem_type
from gateway.proxy.demo import demo

ROOT = Path(__file__).resolve().parent.parent
PREAMBLE = (
    'set -euo pipefail\ncurl() { command curl --fail-with-body --silent --show-error "$@"; }\n'
)


def blocks(document: Path, language: str) -> list[str]:
    text = document.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def runnable(block: str) -> bool:
    return "python3 -m venv" not in block


async def run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize(
    "document",
    ["README.md", "docs/http-api.md", "docs/plan.md", "docs/cli.md", "docs/access.md"],
)
async def test_every_example_runs_against_the_demo(document: str, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    examples = [b for b in blocks(ROOT / document, "sh") if runnable(b)]
    assert examples, f"{document} has no sh examples"
    async with demo() as running:
        # A new shell: webhook-gateway is not on its PATH until the lines the demo prints run.
        bin_dir = str(Path(sys.executable).parent)
        path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != bin_dir)
        env = {**os.environ, "PATH": path}
        env.pop("VIRTUAL_ENV", None)
        first = "\n".join(running.first_steps()) + "\n"
        for block in examples:
            code, out = await run(["bash", "-c", PREAMBLE + first + block], env, tmp_path)
            assert code == 0, f"this example of {document} failed ({code}):\n{block}\n{out}"
        if document == "README.md":
            (python,) = blocks(ROOT / document, "python")
            script = tmp_path / "example.py"
            script.write_text(python)
            code, out = await run([sys.executable, str(script)],
                                  {**env, **running.environment()}, tmp_path)  # fmt: skip
            assert code == 0, f"the README's Python example failed:\n{out}"
            assert "frozenset({'job.completed'})" in out


def test_problem_types_link_to_anchors_that_exist() -> None:
    text = (ROOT / "docs" / "http-api.md").read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    anchors |= {"errors"}  # the section itself
    assert problem_type("x").endswith("docs/http-api.md#errors-x")
    for kind in ERROR_TABLE.values():
        if not kind.slug.isdigit():  # a problem type of its own: documented at its anchor
            assert f"errors-{kind.slug}" in anchors, kind.slug
