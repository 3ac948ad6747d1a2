"""What the API gateway checks before any tenant API runs: API key, token, armed refusals and faults."""

import logging
from typing import Callable, Optional

from aiohttp import web

from .faults import reason
from .http_util import bearer_token, json_response, same_secret
from .tenant import Tenant

logger = logging.getLogger("statsbridge.simulator")


def api_key_ok(request: web.Request, tenant: Tenant) -> bool:
    """Whether the request carries the tenant's ``x-api-key``."""
    return same_secret(request.headers.get("x-api-key"), tenant.config.api_key)


def check(request: web.Request, tenant: Tenant, scope: str,
          fault_body: Callable[[int], dict], need_token: bool = True) -> Optional[web.Response]:
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
    status = tenant.faults.take(scope)
    if status is not None:
        logger.info("injected fault: %s %s answered %d", request.method, request.path, status)
        return json_response(fault_body(status), status)
    return None


def plain_fault(status: int) -> dict:
    """A fault body for endpoints without an envelope."""
    return {"message": reason(status)}
