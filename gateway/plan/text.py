"""A plan as people read it (``plan``, ``apply``), from the plan's JSON form: the same text
whether the plan was made here or by a gateway over HTTP (``--server``)."""

from __future__ import annotations

import json
from typing import Any

from gateway.plan.planner import Plan

__all__ = ["confirm_prompt", "delete_confirmed", "deletions", "line_kind", "render", "totals"]

_SIGNS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "adopt": "=",
          "move": ">"}  # fmt: skip
#: The writes a plan counts, in the order it names them.
_WRITES = ("create", "update", "replace", "delete")
_LABELS = {"adopt": "adopt (record ownership only)", "move": "move (record ownership only)",
           "replace": "replace (new id)"}  # fmt: skip


def _change_line(change: dict[str, Any]) -> str:
    field, before, after = change["field"], change["before"], change["after"]
    if field == "events":
        added = " ".join(f"+{e}" for e in after["+"])
        removed = " ".join(f"-{e}" for e in before["-"])
        return f"events: {' '.join(x for x in (added, removed) if x)}"
    if field.rsplit(".", 1)[-1] == "secret":
        return f"{field}: {before} -> {after} (value not shown)"
    return f"{field}: {json.dumps(before)} -> {json.dumps(after)}"


def render(plan: Plan | dict[str, Any]) -> str:
    """The plan as people read it, from its JSON form (the same locally and with --server)."""
    data = plan.to_json() if isinstance(plan, Plan) else plan
    lines: list[str] = []
    for account in data["accounts"]:
        actions = account["actions"]
        counts = {k: sum(a["action"] == k for a in actions) for k in _WRITES}
        head = ", ".join(f"{n} to {k}" for k, n in counts.items())
        lines.append(f"{account['account']} ({account['provider']}): {head}, "
                     f"{account['unchanged']} unchanged")  # fmt: skip
        if account.get("error"):
            lines.append(f"  ! could not plan: {account['error']}")
        for action in actions:
            kind = action["action"]
            ident = f" ({action['id']})" if action.get("id") else ""
            moved = f" (was {action['moved_from']})" if action.get("moved_from") else ""
            lines.append(f"  {_SIGNS[kind]} {_LABELS.get(kind, kind)} {action['key'] or '-'}"
                         f"{moved} {json.dumps(action['name'])}{ident}")  # fmt: skip
            fields = action.get("fields")
            if fields is not None and kind == "create":
                events = "all" if fields.get("all_events") else ", ".join(fields["events"])
                lines.append(f"      url: {fields['url']}")
                lines.append(f"      events: {events}")
            lines += [f"      {_change_line(c)}" for c in action.get("changes", ())]
            if action.get("note"):
                lines.append(f"      ({action['note']})")
        lines += [f"  note: {n}" for n in account.get("notes", ())]
        lines += [f"  warning: {w}" for w in account.get("warnings", ())]
    failed = sum(1 for a in data["accounts"] if a.get("error"))
    if failed:  # never "No changes" for a plan that could not look at everything
        lines.append(f"Plan incomplete: {failed} account(s) could not be planned (above).")
    if data["changes"] == 0 and not failed:
        lines.append("No changes: the accounts match the manifest.")
    elif data["changes"]:
        summed = totals(data)
        lines.append(f"Plan: {summed['create']} to create, {summed['update']} to update, "
                     f"{summed['replace']} to replace, {summed['delete']} to delete.")  # fmt: skip
    return "\n".join(lines) + "\n"


def totals(plan: Plan | dict[str, Any]) -> dict[str, int]:
    """How many of each write the plan makes: ``create``, ``update``, ``replace``, ``delete``."""
    data = plan.to_json() if isinstance(plan, Plan) else plan
    counts = dict.fromkeys(_WRITES, 0)
    for account in data["accounts"]:
        for action in account["actions"]:
            if action["action"] in counts:
                counts[action["action"]] += 1
    return counts


def deletions(plan: Plan | dict[str, Any]) -> tuple[int, list[str]]:
    """How many webhooks applying the plan deletes (a replace deletes one too: its id goes),
    and the accounts they are in."""
    data = plan.to_json() if isinstance(plan, Plan) else plan
    count, accounts = 0, []
    for account in data["accounts"]:
        here = sum(a["action"] in ("delete", "replace") for a in account["actions"])
        if here:
            count += here
            accounts.append(account["account"])
    return count, accounts


def delete_confirmed(plan: Plan | dict[str, Any], typed: str) -> bool:
    """Whether ``typed`` confirms the plan's deletes: the number of webhooks it deletes, or
    (when they are all in one account) that account's name; any answer when it deletes none."""
    count, accounts = deletions(plan)
    typed = typed.strip()
    return count == 0 or typed == str(count) or (len(accounts) == 1 and typed == accounts[0])


def confirm_prompt(plan: Plan | dict[str, Any]) -> str:
    """What to type to apply a plan that deletes: the number, or the one account's name."""
    count, accounts = deletions(plan)
    named = f" or the account's name ({accounts[0]})" if len(accounts) == 1 else ""
    return f"This deletes {count} webhook(s). Type {count}{named} to apply"


_KINDS = (("-/+ ", "replace"), ("- ", "delete"), ("+ ", "create"), ("~ ", "update"),
          ("! ", "problem"), ("warning: ", "warning"))  # fmt: skip


def line_kind(line: str) -> str:
    """The kind of a line of ``render``'s text, for a screen to colour: ``delete``, ``replace``,
    ``create``, ``update``, ``problem``, ``warning``, or ``""``."""
    stripped = line.lstrip()
    for prefix, kind in _KINDS:
        if stripped.startswith(prefix) and line.startswith("  "):
            return kind
    return ""
