"""A local Orchestry, with its own Microsoft identity platform, over TLS.

MSAL accepts only https authorities, so the emulator makes a throw-away CA at start (``trustme``),
serves one TLS server with both the identity platform and the Orchestry API, and tells its
caller where the CA file is (``ca_path``; the command line prints it)::

    python -m providers.orchestry.emulator --port 8102

Identity platform (the parts MSAL uses for client credentials):

* ``GET /{tenant}/v2.0/.well-known/openid-configuration``: ``token_endpoint``,
  ``authorization_endpoint``, ``issuer``;
* ``POST /{tenant}/oauth2/v2.0/token``: ``grant_type=client_credentials``; an unknown client or a
  wrong secret is 401 ``invalid_client`` (AADSTS7000215), a scope other than the API's is 400
  ``invalid_scope``, an unknown tenant 400 ``invalid_request``.

Orchestry API (bearer token from above, 401 without): ``POST /v1/provisioning/webhooks`` as
document 003 describes, plus what the adapter assumes (``GET`` list, ``GET``/``DELETE`` by id);
invalid bodies get 400 problem details naming each field. Admin: ``POST /_emulator/events
{"type": ..., "payload"?: {...}}`` delivers the documented payload (``tenantId, requestId,
templateId, groupId, sharePointUrl, Secret``) to each subscriber of that event, with the secret
also in ``X-Orchestry-Secret`` (assumed name); ``GET /_emulator/state``; ``PUT /_emulator/faults``.

Assumed where the page is silent: everything in ``providers.orchestry.wire``'s docstring, and
that names are unique (409 problem details on a duplicate).
"""

from __future__ import annotations

import secrets
import shutil
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web
from yarl import URL

from gateway.emulation import (
    Deliverer,
    Faults,
    add_admin_routes,
    banner,
    dumps,
    emulator_parser,
    error_middleware,
    fault_middleware,
    faults_from_args,
    json_object,
    serve,
    trace_id,
)
from gateway.emulation.limits import RateLimit, Traffic, limit_from_args, traffic_middleware
from providers.orchestry.wire import EVENTS, SECRET_HEADER

__all__ = ["OrchestryEmulator", "main"]

EVENT_NAMES = frozenset(name for name, _, _ in EVENTS)
FIELDS = frozenset({"name", "description", "event", "url", "secret"})


class Problem(Exception):
    def __init__(self, status: int, title: str, errors: Mapping[str, list[str]] | None = None):
        super().__init__(title)
        self.status, self.title, self.errors = status, title, dict(errors or {})


class OrchestryEmulator:
    """One Orchestry tenant and its identity platform. Call ``close()`` to remove the CA files.

    ``clients``: client id -> secret. ``scope``: the API's client-credentials scope. Public state:
    ``webhooks``, ``token_requests``, ``writes``, ``deliveries``, ``faults``, ``ca_path``.
    """

    def __init__(
        self,
        *,
        tenant_id: str | None = None,
        clients: Mapping[str, str] | None = None,
        scope: str = "api://orchestry-api/.default",
        faults: Faults | None = None,
        rate_limit: RateLimit | None = None,
        token_lifetime: int = 3599,
        delivery_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.clients = dict(clients or {})
        self.scope = scope
        self.faults = faults or Faults()
        self.traffic = Traffic(rate_limit or RateLimit())
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.deliverer = Deliverer(timeout=delivery_timeout)
        self.webhooks: dict[str, dict[str, Any]] = {}
        self._secrets: dict[str, str] = {}
        self._issued: dict[str, float] = {}
        self.token_requests = 0
        self.writes = 0
        self.deliveries: list[dict[str, Any]] = []
        self._ca = trustme.CA()
        self._dir = Path(tempfile.mkdtemp(prefix="orchestry-emulator-"))
        self.ca_path = str(self._dir / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_path)

    def ssl_context(self) -> ssl.SSLContext:
        """The server side of TLS: a certificate for 127.0.0.1 and localhost from our CA."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the emulator's CA (for tests and receivers)."""
        return ssl.create_default_context(cafile=self.ca_path)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- application -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                traffic_middleware(
                    lambda: self.traffic, lambda s: _problem_body(s, "Rate limit exceeded")
                ),
                fault_middleware(lambda: self.faults, lambda s: _problem_body(s, "Injected fault")),
                error_middleware(Problem, _problem_response),
            ]
        )
        r = app.router
        r.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery)
        r.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        r.add_get("/v1/provisioning/webhooks", self._list)
        r.add_post("/v1/provisioning/webhooks", self._create)
        r.add_get("/v1/provisioning/webhooks/{id}", self._get)
        r.add_delete("/v1/provisioning/webhooks/{id}", self._delete)
        add_admin_routes(app, self)
        return app

    # -- identity platform -------------------------------------------------------------------

    def _issuer(self, request: web.Request, tenant: str) -> str:
        return f"{request.url.origin()}/{tenant}"

    async def _discovery(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant != self.tenant_id:
            return _aad_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        base = self._issuer(request, tenant)
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "response_types_supported": ["code", "id_token", "token"],
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if request.match_info["tenant"] != self.tenant_id:
            return _aad_error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant.")
        expected = self.clients.get(str(form.get("client_id", "")))
        offered = str(form.get("client_secret", ""))
        if expected is None or not secrets.compare_digest(expected.encode(), offered.encode()):
            return _aad_error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                "the request is the client secret value, not the client secret ID.",
            )
        if str(form.get("scope", "")).split() != [self.scope]:
            return _aad_error(
                400, "invalid_scope", "AADSTS70011: The provided value for scope is not valid."
            )
        token = secrets.token_urlsafe(32)
        self._issued[token] = self.clock() + self.token_lifetime
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    def _authorize(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self._issued.get(token) if scheme.lower() == "bearer" else None
        if expires is None or self.clock() >= expires:
            raise Problem(401, "Unauthorized: a valid bearer token is required")
        if request.method != "GET":
            self.writes += 1

    # -- API ---------------------------------------------------------------------------------

    def _record(self, request: web.Request) -> dict[str, Any]:
        record = self.webhooks.get(request.match_info["id"])
        if record is None:
            raise Problem(404, f"Webhook {request.match_info['id']} was not found.")
        return record

    async def _list(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return web.json_response(list(self.webhooks.values()))

    async def _get(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return web.json_response(self._record(request))

    async def _delete(self, request: web.Request) -> web.Response:
        self._authorize(request)
        record = self._record(request)
        del self.webhooks[record["id"]]
        self._secrets.pop(record["id"], None)
        return web.Response(status=204)

    async def _create(self, request: web.Request) -> web.Response:
        self._authorize(request)
        body = await json_object(request, lambda message: Problem(400, message))
        errors: dict[str, list[str]] = {}
        for key in sorted(set(body) - FIELDS):
            errors[key] = ["Unknown field."]
        for key in ("name", "event", "url"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                errors.setdefault(key, []).append(f"The {key} field is required.")
        for key in ("description", "secret"):
            if body.get(key) is not None and not isinstance(body[key], str):
                errors.setdefault(key, []).append(f"The {key} field must be a string.")
        event = body.get("event")
        if isinstance(event, str) and event and event not in EVENT_NAMES:
            errors.setdefault("event", []).append(
                f"Unknown event '{event}'; one of: {', '.join(sorted(EVENT_NAMES))}."
            )
        url = body.get("url")
        if isinstance(url, str) and url:
            parsed = URL(url)
            if parsed.scheme not in ("http", "https") or not parsed.host:
                errors.setdefault("url", []).append("The url field must be an absolute URL.")
        if errors:
            raise Problem(400, "One or more validation errors occurred.", errors)
        if any(w["name"] == body["name"] for w in self.webhooks.values()):
            raise Problem(409, f"A webhook named '{body['name']}' already exists.")
        id = str(uuid.uuid4())
        record = {
            "id": id,
            "name": body["name"],
            "description": body.get("description"),
            "event": event,
            "url": url,
        }
        self.webhooks[id] = record
        if body.get("secret"):
            self._secrets[id] = body["secret"]
        return web.json_response(record, status=201)

    # -- delivery ----------------------------------------------------------------------------

    async def fire(self, event: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Deliver ``event`` to each of its subscribers with the documented payload."""
        if event not in EVENT_NAMES:
            raise Problem(
                400, "Unknown event.", {"type": [f"one of {', '.join(sorted(EVENT_NAMES))}"]}
            )
        base = {
            "tenantId": self.tenant_id,
            "requestId": str(uuid.uuid4()),
            "templateId": str(uuid.uuid4()),
            "groupId": str(uuid.uuid4()),
            "sharePointUrl": "https://contoso.sharepoint.com/sites/project-falcon",
            **(payload or {}),
        }
        report = []
        for record in [w for w in self.webhooks.values() if w["event"] == event]:
            body = dict(base)
            headers: dict[str, str] = {}
            secret = self._secrets.get(record["id"])
            if secret:
                body["Secret"] = secret
                headers[SECRET_HEADER] = secret
            outcome = await self.deliverer.post(record["url"], dumps(body), headers)
            entry = {"webhook": record["id"], "status": outcome.status, "error": outcome.error}
            self.deliveries.append(entry)
            report.append(entry)
        return {"event": event, "deliveries": report}

    def state(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "ca_path": self.ca_path,
            "webhooks": len(self.webhooks),
            "token_requests": self.token_requests,
            "writes": self.writes,
            "deliveries": self.deliveries[-100:],
        }


def _problem_response(exc: Problem) -> web.Response:
    return web.json_response(
        _problem_body(exc.status, exc.title, exc.errors),
        status=exc.status,
        content_type="application/problem+json",
    )


def _problem_body(
    status: int, title: str, errors: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title, "status": status, "traceId": trace_id()}
    if errors:
        body["errors"] = dict(errors)
    return body


def _aad_error(status: int, error: str, description: str) -> web.Response:
    correlation = str(uuid.uuid4())
    return web.json_response(
        {
            "error": error,
            "error_description": f"{description}\r\nTrace ID: {trace_id()}\r\n"
            f"Correlation ID: {correlation}",
            "error_codes": [int(description[6:13]) if description[6:13].isdigit() else 0],
            "correlation_id": correlation,
        },
        status=status,
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    """Run the emulator with one demo client; prints the URLs and the CA file to trust."""
    parser = emulator_parser("A local Orchestry with its identity platform.", 8102, prog)
    parser.add_argument("--tenant", default="3f2d6c1e-8a7b-4c5d-9e0f-1a2b3c4d5e6f")
    parser.add_argument("--client-id", default="orchestry-demo-client")
    parser.add_argument("--client-secret", default="orchestry-demo-secret")
    args = parser.parse_args(argv)
    emulator = OrchestryEmulator(
        tenant_id=args.tenant,
        clients={args.client_id: args.client_secret},
        faults=faults_from_args(args),
        rate_limit=limit_from_args(args),
    )
    try:
        serve(
            emulator.app(),
            host=args.host,
            port=args.port,
            ssl_context=emulator.ssl_context(),
            announce=lambda url: banner(
                f"Orchestry emulator on {url} (authority {url}/{args.tenant}, "
                f"scope {emulator.scope}, CA file {emulator.ca_path})",
                {
                    "tenant_id": args.tenant,
                    "client_id": args.client_id,
                    "client_secret": args.client_secret,
                },
                f"""
[accounts.orchestry-local]
provider = "orchestry"
base_url = "{url}"
tenant_id = "{args.tenant}"
client_id = "{args.client_id}"
client_secret = "{args.client_secret}"
scope = "{emulator.scope}"
authority = "{url}/{args.tenant}"
ca_bundle = "{emulator.ca_path}"   # its throw-away CA: valid while it runs
""",
            ),
        )
    finally:
        emulator.close()


if __name__ == "__main__":
    main()
