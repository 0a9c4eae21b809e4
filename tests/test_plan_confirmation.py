"""A plan that deletes is applied only once the person types how many webhooks it deletes (or
the one account's name), at the terminal as in the console (issue 41, point 5)."""

from __future__ import annotations

import builtins
import io
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.plan.text import confirm_prompt, delete_confirmed, deletions, line_kind
from tests.conftest import memory_state_config

MANIFEST = """
[accounts.mem.webhooks.keep]
name = "keep"
url = "https://hooks.example.com/keep"
events = ["order.created"]
"""
DROP = """
[accounts.mem.webhooks.drop]
name = "drop"
url = "https://hooks.example.com/drop"
events = ["order.created"]
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_terminal_asks_for_the_count_of_deletes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = memory_state_config(tmp_path)
    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(MANIFEST + DROP)
    assert main(["apply", str(manifest), "--config", str(config), "--auto-approve"]) == 0
    manifest.write_text(MANIFEST)  # "drop" is given up: the plan deletes it
    prompts: list[str] = []
    answers = iter(["yes", "mem"])

    def typed(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(builtins, "input", typed)
    capsys.readouterr()
    assert main(["apply", str(manifest), "--config", str(config)]) == 0
    assert "Nothing applied." in capsys.readouterr().out  # "yes" is not the count
    assert prompts == ["This deletes 1 webhook(s). Type 1 or the account's name (mem) to "
                       "apply: "]  # fmt: skip
    assert main(["apply", str(manifest), "--config", str(config)]) == 0
    assert "Applied 1 of 1." in capsys.readouterr().out


def test_what_confirms_a_plans_deletes() -> None:
    plan = {"accounts": [
        {"account": "a", "actions": [{"action": "delete"}, {"action": "replace"}]},
        {"account": "b", "actions": [{"action": "create"}]},
    ]}  # fmt: skip
    assert deletions(plan) == (2, ["a"])
    assert [delete_confirmed(plan, t) for t in ("2", " 2 ", "a", "yes", "1", "")] == [
        True, True, True, False, False, False
    ]  # fmt: skip
    both = {"accounts": [{"account": n, "actions": [{"action": "delete"}]} for n in "ab"]}
    assert delete_confirmed(both, "2") and not delete_confirmed(both, "a")
    assert confirm_prompt(both) == "This deletes 2 webhook(s). Type 2 to apply"
    nothing = {"accounts": [{"account": "a", "actions": [{"action": "create"}]}]}
    assert delete_confirmed(nothing, "")
    assert [line_kind(x) for x in ("  - delete k", "  -/+ replace (new id) k", "  + create k",
                                   "  ~ update k", "Plan: 1 to create")] == [
        "delete", "replace", "create", "update", ""
    ]  # fmt: skip
