"""Declarative desired state: a manifest of the webhooks each account should have, a plan of
what it takes to get there, an apply that carries it out, and an export of what is there now.

    manifest = load_manifest("webhooks.toml", gw.config)
    plan = await make_plan(gw, manifest)          # reads only
    report = await apply_plan(gw, plan)           # writes, through the account clients

The command line: ``webhook-gateway plan|apply|export`` (docs/plan.md).
"""

from __future__ import annotations

from gateway.plan.applier import Outcome, Report, apply_plan
from gateway.plan.export import export_manifest
from gateway.plan.manifest import Desired, Manifest, load_manifest, parse_manifest
from gateway.plan.planner import AccountPlan, Action, Plan, make_plan

__all__ = [
    "AccountPlan",
    "Action",
    "Desired",
    "Manifest",
    "Outcome",
    "Plan",
    "Report",
    "apply_plan",
    "export_manifest",
    "load_manifest",
    "make_plan",
    "parse_manifest",
]
