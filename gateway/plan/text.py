"""A plan as people read it (``plan``, ``apply``), from the plan's JSON form: the same text
whether the plan was made here or by a gateway over HTTP (``--server``)."""

from __future__ import annotations

import json
from typing import Any

from gateway.plan.planner import Plan

__all__ = ["render"]

_SIGNS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "adopt": "=",
          "move": ">"}  # fmt: skip
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
    totals = {"create": 0, "update": 0, "replace": 0, "delete": 0}
    for account in data["accounts"]:
        actions = account["actions"]
        counts = {k: sum(a["action"] == k for a in actions) for k in totals}
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
        for kind in totals:
            totals[kind] += counts[kind]
    failed = sum(1 for a in data["accounts"] if a.get("error"))
    if failed:  # never "No changes" for a plan that could not look at everything
        lines.append(f"Plan incomplete: {failed} account(s) could not be planned (above).")
    if data["changes"] == 0 and not failed:
        lines.append("No changes: the accounts match the manifest.")
    elif data["changes"]:
        lines.append(f"Plan: {totals['create']} to create, {totals['update']} to update, "
                     f"{totals['replace']} to replace, {totals['delete']} to delete.")  # fmt: skip
    return "\n".join(lines) + "\n"
