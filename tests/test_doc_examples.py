"""Every example of README.md and docs/ (http-api, plan, cli, access) runs as written, in the
order a reader meets them against one demo, and each alone against a demo of its own.

An ``sh`` block runs in bash, in a shell whose PATH lacks the virtual environment, after the
lines the demo prints for a new shell (its activation, the ``export`` of ``GW``, ``KEY``,
``WEBHOOK_GATEWAY_CONFIG``), with ``curl`` made to fail on an HTTP error; the README's Python
example runs as a script. Set-up blocks (the
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
from typing import Any

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


#: The documents whose ``sh`` examples run against the demo.
DOCUMENTS = (
    "README.md",
    "docs/http-api.md",
    "docs/plan.md",
    "docs/cli.md",
    "docs/access.md",
    "docs/deploy.md",
)


def reading_order() -> list[str]:
    """README.md, then the other documents in the order README first links them: the order a
    reader meets them."""
    linked = re.findall(r"docs/[a-z-]+\.md", (ROOT / "README.md").read_text(encoding="utf-8"))
    return ["README.md", *[d for d in dict.fromkeys(linked) if d in DOCUMENTS]]


def examples(document: str) -> list[str]:
    return [b for b in blocks(ROOT / document, "sh") if runnable(b)]


EVERY = [(d, i) for d in DOCUMENTS for i in range(len(examples(d)))]
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


class Reader:
    """A reader's shell in ``cwd`` on a demo: each example runs as a new shell would run it,
    after the lines the demo printed (its activation, the ``export`` of ``GW``, ``KEY``,
    ``WEBHOOK_GATEWAY_CONFIG``)."""

    def __init__(self, running: Any, cwd: Path) -> None:
        # A new shell: webhook-gateway is not on its PATH until the lines the demo prints run.
        bin_dir = str(Path(sys.executable).parent)
        path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != bin_dir)
        self.env = {**os.environ, "PATH": path}
        self.env.pop("VIRTUAL_ENV", None)
        self.first = "\n".join(running.first_steps()) + "\n"
        self.running, self.cwd = running, cwd
        shutil.copytree(ROOT / "examples", cwd / "examples", dirs_exist_ok=True)

    async def example(self, document: str, index: int) -> None:
        block = examples(document)[index]
        code, out = await run(["bash", "-c", PREAMBLE + self.first + block], self.env, self.cwd)
        assert code == 0, f"example {index + 1} of {document} failed ({code}):\n{block}\n{out}"

    async def python_example(self) -> None:
        (python,) = blocks(ROOT / "README.md", "python")
        script = self.cwd / "example.py"
        script.write_text(python)
        code, out = await run([sys.executable, str(script)],
                              {**self.env, **self.running.environment()}, self.cwd)  # fmt: skip
        assert code == 0, f"the README's Python example failed:\n{out}"
        assert "frozenset({'job.completed'})" in out


def test_every_document_with_examples_is_linked_from_the_readme() -> None:
    assert sorted(reading_order()) == sorted(DOCUMENTS)
    assert all(examples(d) for d in DOCUMENTS)


@needs_curl
async def test_the_examples_run_in_reading_order_against_one_demo(tmp_path: Path) -> None:
    """As a reader does: one demo, every example of every document in the order met, in one
    directory; none may depend on another having run, or not run, before it."""
    async with demo() as running:
        reader = Reader(running, tmp_path)
        for document in reading_order():
            for index in range(len(examples(document))):
                await reader.example(document, index)
            if document == "README.md":
                await reader.python_example()


@needs_curl
@pytest.mark.parametrize(("document", "index"), EVERY,
                         ids=[f"{d}#{i + 1}" for d, i in EVERY])  # fmt: skip
async def test_each_example_runs_alone(document: str, index: int, tmp_path: Path) -> None:
    """Each example on a fresh demo of its own: it makes what it edits."""
    async with demo() as running:
        await Reader(running, tmp_path).example(document, index)


@needs_curl
async def test_the_python_example_runs_alone(tmp_path: Path) -> None:
    async with demo() as running:
        await Reader(running, tmp_path).python_example()


def test_problem_types_link_to_anchors_that_exist() -> None:
    text = (ROOT / "docs" / "http-api.md").read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    anchors |= {"errors"}  # the section itself
    assert problem_type("x").endswith("docs/http-api.md#errors-x")
    for kind in ERROR_TABLE.values():
        if not kind.slug.isdigit():  # a problem type of its own: documented at its anchor
            assert f"errors-{kind.slug}" in anchors, kind.slug
