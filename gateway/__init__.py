"""webhook-gateway: manage webhook subscriptions at several providers through one model.

::

    from gateway import Gateway, WebhookSpec, WebhookChange

    async with Gateway.from_config("gateway.toml") as gw:
        acct = gw.account("uipath-prod")
        wh = await acct.create(WebhookSpec(name="n", url="https://...", events={"job.faulted"}))
        wh = await acct.update(wh.id, WebhookChange(add_events={"job.completed"}))
"""

from gateway.errors import (
    AuthenticationFailed,
    ConfigError,
    Conflict,
    GatewayError,
    InvalidRequest,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    Unsupported,
)
from gateway.health.verify import Verification, verify
from gateway.model import (
    UNSET,
    AlertEndpoint,
    EventType,
    FailureHandling,
    Headers,
    ListFilter,
    PingResult,
    RetryStrategy,
    Secret,
    Webhook,
    WebhookChange,
    WebhookSpec,
)
from gateway.service import Account, AccountInfo, Gateway
from gateway.version import VERSION as __version__

__all__ = [
    "UNSET",
    "Account",
    "AccountInfo",
    "AlertEndpoint",
    "AuthenticationFailed",
    "ConfigError",
    "Conflict",
    "EventType",
    "FailureHandling",
    "Gateway",
    "GatewayError",
    "Headers",
    "InvalidRequest",
    "ListFilter",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "PingResult",
    "ProviderUnavailable",
    "RateLimited",
    "RetryStrategy",
    "Secret",
    "Unsupported",
    "Verification",
    "Webhook",
    "WebhookChange",
    "WebhookSpec",
    "__version__",
    "verify",
]
