"""The layout shows the layers, and the imports keep to them.

Every import in ``gateway/`` and ``providers/`` counts, function-level and ``TYPE_CHECKING`` ones
included (they are read from the source, not from what happened to run). Top to bottom:

    cli, testing                     the command line, the conformance suite
    proxy                            the HTTP proxy (its ``serve`` command, the demo)
    operations                       every use case once: who asks, input, answer, rules
    plan, health, ``gateway``        desired state; watch, events, verify, rotation, the relay;
                                     the package's public names (``from gateway import verify``)
    service                          the Gateway facade
    store                            shared state
    provider, registry, config,      the provider contract and what configures it;
      codec, destinations,           the adapters; the emulators
      providers.*
    transport, emulation tooling,    talking to providers; what every emulator shares;
      logs                           structured logs
    errors, checks, model, origin,   the core's basics
      lifecycle, version, masking,
      access

A module may import its own rank or lower ones, never a higher one, and no set of modules may
import each other in a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

# fmt: off
RANKS: list[tuple[int, tuple[str, ...]]] = [
    (9, ("gateway.cli", "gateway.testing")),
    (8, ("gateway.proxy",)),
    (7, ("gateway.operations",)),
    (6, ("gateway.plan", "gateway.health", "gateway")),
    (5, ("gateway.service",)),
    (4, ("gateway.store",)),
    (3, ("gateway.provider", "gateway.registry", "gateway.config", "gateway.codec",
         "gateway.destinations", "providers")),
    (2, ("gateway.transport", "gateway.emulation", "gateway.logs")),
    (1, ("gateway.errors", "gateway.checks", "gateway.model", "gateway.origin",
         "gateway.lifecycle", "gateway.version", "gateway.masking", "gateway.access")),
]
# fmt: on


def rank(module: str) -> int:
    best: tuple[int, int] | None = None  # (length of the matching prefix, rank)
    for value, prefixes in RANKS:
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), value)
    assert best is not None, f"{module} has no layer: add it to RANKS"
    return best[1]


def modules() -> dict[str, Path]:
    found = {}
    for package in ("gateway", "providers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project's modules that ``path`` imports, anywhere in it."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from a.b import c``: the module a.b.c where there is one, else a.b itself
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [s if s in known else node.module for s in submodules]
        else:
            continue
        yield from sorted({name for name in names if name in known})


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imports(path, known)) - {name} for name, path in known.items()}


def test_the_root_holds_the_core_alone() -> None:
    top = sorted(p.stem for p in (ROOT / "gateway").glob("*.py") if p.stem != "__init__")
    assert len(top) <= 15, top
    assert all(rank(f"gateway.{name}") <= 5 for name in top), top  # nothing above the facade


def test_lower_layers_never_import_higher_ones() -> None:
    wrong = [
        f"{a} (layer {rank(a)}) imports {b} (layer {rank(b)})"
        for a, targets in graph().items()
        for b in sorted(targets)
        if rank(b) > rank(a)
    ]
    assert wrong == []


def test_no_import_circle() -> None:
    edges = graph()
    # Tarjan's strongly connected components: any with more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert circles == []


@pytest.mark.parametrize(
    ("module", "expected"),
    [("gateway.proxy.server", 8), ("gateway.emulation.faults", 2), ("gateway.proxy.demo", 8)],
)
def test_ranks_take_the_longest_prefix(module: str, expected: int) -> None:
    assert rank(module) == expected


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from gateway.plan import make_plan, planner\n")
    known = {"gateway.plan": source, "gateway.plan.planner": source}
    assert list(imports(source, known)) == ["gateway.plan", "gateway.plan.planner"]


def test_the_command_line_never_imports_the_proxy() -> None:
    """The command line speaks to a proxy only over HTTP (``--server``) and shares the
    operations layer's JSON with it; ``serve`` lives with the proxy as an entry point."""
    known = modules()
    offenders = {
        name: sorted(i for i in imports(path, known) if i.startswith("gateway.proxy"))
        for name, path in known.items()
        if name.startswith("gateway.cli")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
