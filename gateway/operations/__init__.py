"""The operations layer: every use case of the gateway, written once.

Between the library (``Gateway``, plan, health) and the front doors (the proxy's routes, the
console's pages and actions, the command line local and remote). Each use case is one method
of ``Operations`` that takes who is asking (a ``Principal``) and typed input, and answers a
typed value with one JSON encoding (``to_json``), so every front door shows the same thing.
It is the single place where a use case's rules live: the input's checks (every problem at
once), who may do it, what a caller may see (credentials in URLs), and as whom the audit log
records it. A front door only parses its own input and renders the answer.

Modules: ``principal`` (who is asking), ``webhooks`` (accounts, event types, the webhooks
and their extras), ``desired`` (plan, apply, export), ``records`` (audit, health, whoami),
``keys`` (keys issued at run time), ``listing`` and ``read_ahead`` (pages of webhooks, signed
cursors), ``audit`` (the audit log's query and JSON), ``base`` (what they share).
"""

from __future__ import annotations

from gateway.operations.base import Items, Observe
from gateway.operations.desired import Applied, DesiredOperations, PlanChanged, PlanRequest
from gateway.operations.keys import Issued, KeyOperations
from gateway.operations.principal import Principal
from gateway.operations.records import RecordOperations
from gateway.operations.webhooks import Rotated, WebhookAnswer, WebhookOperations

__all__ = [
    "Applied",
    "Issued",
    "Items",
    "Observe",
    "Operations",
    "PlanChanged",
    "PlanRequest",
    "Principal",
    "Rotated",
    "WebhookAnswer",
]


class Operations(WebhookOperations, DesiredOperations, RecordOperations, KeyOperations):
    """Every use case of the gateway ``gw`` (``OperationsBase`` says what it is built with)."""
