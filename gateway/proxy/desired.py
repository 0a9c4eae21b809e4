"""``POST /v1/plan`` (read key) and ``POST /v1/apply`` (write key): the manifest commands over
HTTP (docs/plan.md).

The body is ``{"manifest": {"accounts": {...}}, "adopt": false, "prune": false}``: the manifest
in JSON, with each secret given as ``secret`` (write-only, as in a create; ``secret_env`` and
``secret_file`` would read the gateway's own environment and files, and are refused). ``plan``
answers the plan's JSON (docs/plan.md). ``apply`` plans and applies; with ``plan_fingerprint``
(the ``fingerprint`` of an earlier plan) it applies only if planning again gives that plan, else
409 with the current one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.errors import ConfigError, FieldProblem, InvalidRequest
from gateway.plan import Plan, apply_plan, make_plan, parse_manifest
from gateway.proxy.problems import problem
from gateway.service import Gateway

__all__ = ["apply_answer", "plan_answer"]

_KEYS = {"manifest", "adopt", "prune", "set_unknown_secrets", "plan_fingerprint", "parallelism"}


async def _plan(gw: Gateway, body: Any) -> tuple[Plan, dict[str, Any]]:
    if not isinstance(body, dict):
        raise InvalidRequest.at("", "the body must be a JSON object with a manifest")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise InvalidRequest.at(unknown[0], "unknown field")
    for flag in ("adopt", "prune", "set_unknown_secrets"):
        if not isinstance(body.get(flag, False), bool):
            raise InvalidRequest.at(flag, "must be true or false")
    if not isinstance(body.get("plan_fingerprint", ""), str):
        raise InvalidRequest.at("plan_fingerprint", "must be a string (a plan's fingerprint)")
    parallelism = body.get("parallelism", 4)
    if isinstance(parallelism, bool) or not isinstance(parallelism, int):
        raise InvalidRequest.at("parallelism", "must be an integer from 1 to 32")
    if not 1 <= parallelism <= 32:
        raise InvalidRequest.at("parallelism", "must be an integer from 1 to 32")
    if "manifest" not in body:
        raise InvalidRequest.at("manifest", "required")
    try:
        manifest = parse_manifest(body["manifest"], gw.config, inline_secrets=True)
    except ConfigError as exc:
        problems = [FieldProblem(f"manifest.{p.path}", p.message) for p in exc.problems]
        if not problems:
            problems = [FieldProblem("manifest", exc.message)]
        raise InvalidRequest(problems=problems) from None
    made = await make_plan(gw, manifest, adopt=body.get("adopt", False),
                           prune=body.get("prune", False),
                           set_unknown_secrets=body.get("set_unknown_secrets", False))  # fmt: skip
    return made, body


async def plan_answer(gw: Gateway, body: Any) -> dict[str, Any]:
    made, _ = await _plan(gw, body)
    return made.to_json()


async def apply_answer(gw: Gateway, body: Any) -> web.Response | dict[str, Any]:
    made, options = await _plan(gw, body)
    expected = options.get("plan_fingerprint")
    if expected is not None and expected != made.fingerprint:
        return problem(
            409,
            "the plan changed since plan_fingerprint was made; nothing was applied: review "
            "current_plan and send its fingerprint",
            current_plan=made.to_json(),
        )
    report = await apply_plan(gw, made, concurrency=options.get("parallelism", 4))
    return {"plan": made.to_json(), "report": report.to_json()}
