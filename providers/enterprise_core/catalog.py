"""Socotra's event catalog, as its public OpenAPI document defines it.

The Insurance Suite API names its events on nine public routes (``x-securityGroup: public``):
``GET /policy/events``, ``/billing/events``, ``/claim/events``, ``/contact/events``,
``/document/events``, ``/migration/events``, ``/work-management/events``, ``/producers/events``
and ``/config/events``. Each answers an ``*EventTypeDefinitions`` object: its properties are
groups (``accountEvents``, ``invoiceEvents`` ...), each group an object whose property names are
the event names (``policy.account.create``, ``billing.invoice.generate`` ...) and whose values
are typed as that event's data (``AccountEventData`` ...). 193 names in all.

``events.json`` beside this module is generated from the document, never edited by hand::

    python -m providers.enterprise_core.catalog tests/data/enterprise_core/event_catalog.json

reads either the whole original (api-evangelist/socotra,
``openapi/_original/socotra-openapi-original.json``) or the part of it kept in
``tests/data/enterprise_core/event_catalog.json``, and writes ``events.json``; ``--check``
only says whether ``events.json`` is what the document gives (a test runs it).

Written by hand: following the nine routes' ``$ref`` chains is a few lines, and an OpenAPI
library would only parse the same JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["EVENTS_JSON", "ROUTES", "from_openapi", "main", "names", "route_answer"]

#: The catalog routes, in the order ``events.json`` keeps them.
ROUTES = (
    "/policy/events",
    "/billing/events",
    "/claim/events",
    "/contact/events",
    "/document/events",
    "/migration/events",
    "/work-management/events",
    "/producers/events",
    "/config/events",
)

EVENTS_JSON = Path(__file__).parent / "events.json"

_NOTE = (
    "Generated from Socotra's public OpenAPI document by providers/enterprise_core/catalog.py: "
    "the event names the nine public catalog routes define. Tenants add custom events from "
    "plugin code, so the list is never complete: names outside it are accepted and passed on "
    "as written unless an account sets custom_events or event_types, and an account with "
    "read_catalog reads the routes of its own tenant instead."
)


def _schema(doc: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise ValueError(f"unsupported $ref {ref!r}")
    return doc["components"]["schemas"][ref.removeprefix(prefix)]  # type: ignore[no-any-return]


def _ref(node: Mapping[str, Any]) -> str:
    return str(node["$ref"]).rsplit("/", 1)[-1]


def from_openapi(doc: Mapping[str, Any], *, source: Mapping[str, Any]) -> dict[str, Any]:
    """The content of ``events.json`` for the OpenAPI document ``doc``."""
    routes = []
    for path in ROUTES:
        get = doc["paths"][path]["get"]
        answer = get["responses"]["200"]["content"]["application/json"]["schema"]
        definitions = _schema(doc, answer["$ref"])
        groups = []
        for key, node in definitions["properties"].items():
            group = _schema(doc, node["$ref"])
            events = [
                {"name": name, "data": _ref(event)}
                for name, event in group.get("properties", {}).items()
            ]
            groups.append({"name": key, "schema": _ref(node), "events": events})
        routes.append(
            {
                "path": path,
                "operationId": get["operationId"],
                "schema": _ref(answer),
                "required": list(definitions.get("required", [])),
                "groups": groups,
            }
        )
    return {"source": dict(source), "note": _NOTE, "routes": routes}


def route_answer(route: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What ``GET route["path"]`` answers: ``{group: {event name: data}}``.

    Assumed: the document types each value as the event's data schema and no page shows a live
    answer, so the values are empty objects; readers take only the names."""
    return {
        group["name"]: {event["name"]: {} for event in group["events"]} for group in route["groups"]
    }


def names(catalog: Mapping[str, Any]) -> list[str]:
    """Every event name of ``catalog`` (``events.json``'s content), in its order."""
    return [
        event["name"]
        for route in catalog["routes"]
        for group in route["groups"]
        for event in group["events"]
    ]


def _render(catalog: Mapping[str, Any]) -> str:
    return json.dumps(catalog, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m providers.enterprise_core.catalog",
        description="Write events.json from Socotra's OpenAPI document.",
    )
    parser.add_argument("openapi", type=Path, help="the OpenAPI document (JSON)")
    parser.add_argument("--out", type=Path, default=EVENTS_JSON)
    parser.add_argument("--check", action="store_true", help="only compare with --out")
    args = parser.parse_args(argv)
    doc = json.loads(args.openapi.read_text(encoding="utf-8"))
    source = doc.get("x-source") or {"document": str(args.openapi)}
    text = _render(from_openapi(doc, source=source))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is not what {args.openapi} gives: regenerate it", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(names(json.loads(text)))} event names")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
