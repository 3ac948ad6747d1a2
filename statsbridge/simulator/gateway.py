"""What the API gateway checks before any tenant API runs: API key, token, armed refusals and faults."""

import logging
from collections.abc import Callable

from aiohttp import web

from .faults import reason
from .http_util import bearer_token, json_response, same_secret
from .tenant import Tenant

logger = logging.getLogger("statsbridge.simulator")


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
