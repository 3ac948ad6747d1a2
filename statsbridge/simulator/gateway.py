"""What stands in front of the tenant APIs, as aiohttp middlewares: a proxy that may cut
long requests, then the API gateway (API key, token, armed refusals and faults).

A handler declares what its route needs with ``@gated(...)``; routes without a gate (the
control API, ``oauth/authorize``) pass straight through. The checks apply in this order,
the first that refuses answers:

1. an armed proxy cut of the route's scope (``cut_after``): held, then 504;
2. ``x-api-key`` (403 ``{"message": "Forbidden"}``);
3. the bearer token, unless the route does without (401 ``{"message": "Unauthorized"}``);
4. an armed refusal of this method and path (``/simulator/refuse``);
5. an armed fault of the route's API scope;
6. the service's own refusal, if the route has one (the Statistics API's 503 while UNAVAILABLE);
7. an armed fault of the route's endpoint scope (``subscriptions``, ``peek``).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from .faults import reason
from .http_util import bearer_token, json_response, same_secret
from .tenant import Tenant

logger = logging.getLogger("statsbridge.simulator")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A service's own refusal, checked once the gateway has let the request through.
ServiceCheck = Callable[[web.Request, Tenant], web.Response | None]


@dataclass(frozen=True)
class Gate:
    """What the gateway checks for one route, and in which form it answers a fault."""

    scope: str  # the API's fault scope: statistics, auth or notifications
    fault_body: Callable[[int], dict]  # an armed fault's body, from its status (or code)
    need_token: bool = True
    service: ServiceCheck | None = None
    endpoint_scope: str | None = None  # a narrower fault scope, met after the service's check
    reply_headers: Mapping[str, str] = field(default_factory=dict)  # on every answer, refusals included


def gated(scope: str, fault_body: Callable[[int], dict], **needs) -> Callable[[Handler], Handler]:
    """Mark a handler's route as behind the gateway (``needs``: the other fields of ``Gate``)."""
    gate = Gate(scope, fault_body, **needs)

    def mark(handler: Handler) -> Handler:
        handler.gate = gate
        return handler
    return mark


def route_gate(request: web.Request) -> Gate | None:
    """The gate of the route the request was matched to, or None (ungated or unmatched)."""
    return getattr(request.match_info.handler, "gate", None)


class Front:
    """The proxy and the gateway in front of one tenant's APIs (two middlewares, in that order)."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    @web.middleware
    async def proxy(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Hold and cut the request when a ``cut_after`` fault is armed for its route's scope."""
        gate = route_gate(request)
        cut = self.tenant.faults.armed(gate.scope) if gate is not None else None
        if cut is None or cut.cut_after is None:
            return await handler(request)
        # A proxy in front of the service holds the request, then gives up: the service
        # never sees it (so a CometD session that can only be reached this way expires).
        self.tenant.faults.take_fault(gate.scope)
        await asyncio.sleep(cut.cut_after)
        logger.info("injected fault: %s %s cut by a proxy after %g s", request.method, request.path, cut.cut_after)
        return json_response(plain_fault(cut.status), cut.status)

    @web.middleware
    async def gateway(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer the first refusal the route's gate finds, else let the handler answer."""
        gate = route_gate(request)
        if gate is None:
            return await handler(request)
        response = self._refusal(request, gate) or await handler(request)
        response.headers.update(gate.reply_headers)
        return response

    def _refusal(self, request: web.Request, gate: Gate) -> web.Response | None:
        refused = check(request, self.tenant, gate.scope, gate.fault_body, gate.need_token)
        if refused is None and gate.service is not None:
            refused = gate.service(request, self.tenant)
        if refused is None and gate.endpoint_scope is not None:
            refused = injected(request, self.tenant, gate.endpoint_scope, gate.fault_body)
        return refused


def api_key_ok(request: web.Request, tenant: Tenant) -> bool:
    """Whether the request carries the tenant's ``x-api-key``."""
    return same_secret(request.headers.get("x-api-key"), tenant.config.api_key)


def check(request: web.Request, tenant: Tenant, scope: str,
          fault_body: Callable[[int], dict], need_token: bool = True) -> web.Response | None:
    """The error response the gateway answers with, or None to let the request through."""
    if not api_key_ok(request, tenant):
        logger.info("refused %s %s: missing or wrong x-api-key", request.method, request.path)
        return json_response({"message": "Forbidden"}, 403)
    if need_token:
        token = bearer_token(request)
        if token is None or tenant.tokens.lookup(token) is None:
            logger.info("refused %s %s: missing, expired or revoked bearer token", request.method, request.path)
            return json_response({"message": "Unauthorized"}, 401)
    refusal = tenant.refusals.take(request.method, request.path)
    if refusal is not None:
        logger.info("armed refusal: %s %s answered %d (%s form)", request.method, request.path, refusal.status,
                    refusal.form)
        return json_response(refusal.body(request.path), refusal.status)
    return injected(request, tenant, scope, fault_body)


def injected(request: web.Request, tenant: Tenant, scope: str,
             fault_body: Callable[[int], dict]) -> web.Response | None:
    """The answer of a fault armed for ``scope`` (consumed), or None. A fault with a ``code``
    answers that ``status.code`` in the body (HTTP 200: the reference's generic error form)."""
    fault = tenant.faults.armed(scope)
    if fault is None or (fault.status == 200 and fault.code == 2) or fault.lost_reply:
        return None  # a partial success or a lost reply is the endpoint's to build
    tenant.faults.take_fault(scope)
    logger.info("injected fault: %s %s answered %d%s", request.method, request.path, fault.status,
                f" code {fault.code}" if fault.code is not None else "")
    return json_response(fault_body(fault.code if fault.code is not None else fault.status), fault.status)


def plain_fault(status: int) -> dict:
    """A fault body for endpoints without an envelope."""
    return {"message": reason(status)}
