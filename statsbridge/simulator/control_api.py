"""The simulator's own control and fault API under /simulator/ (header ``x-simulator-key``)."""

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .arms import RefreshRefusal, Refusal, parse_refresh_refusal, parse_refusal
from .catalog import catalog_reply
from .faults import SCOPES, Fault, parse_fault, parse_lost_peek
from .http_util import json_response, same_secret
from .tenant import AVAILABLE, UNAVAILABLE, Tenant

logger = logging.getLogger("statsbridge.simulator")
BASE = "/simulator"


def _bad(message: str) -> web.Response:
    logger.info("control API refused a request: %s", message)
    return json_response({"message": message}, 400)


async def _json_object(request: web.Request, required: bool) -> dict:
    raw = await request.read()
    if not raw and not required:
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def with_body(parse: Callable[[dict], Any] = dict, required: bool = True):
    """The handler gets the request's JSON object, through ``parse`` (``dict``: as it is), as its
    second argument; a body that is not one (or absent, when ``required``), or that ``parse``
    refuses with a ValueError, is answered 400 and changes nothing."""
    def decorate(method):
        @functools.wraps(method)
        async def handler(self, request: web.Request) -> web.Response:
            try:
                body = parse(await _json_object(request, required))
            except ValueError as error:  # a parser's FaultError is one
                return _bad(str(error))
            return await method(self, request, body)
        return handler
    return decorate


class ControlApi:
    """Faults, load and inspection for tests, benchmarks and the admin UI."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def routes(self) -> list:
        """The routes to add to the application."""
        return [
            web.post(f"{BASE}/service", self.service),
            web.post(f"{BASE}/forget-clients", self.forget_clients),
            web.post(f"{BASE}/fail", self.fail),
            web.post(f"{BASE}/clear-faults", self.clear_faults),
            web.post(f"{BASE}/lost-peek", self.lost_peek),
            web.post(f"{BASE}/drop-subscriptions", self.drop_subscriptions),
            web.post(f"{BASE}/revoke-tokens", self.revoke_tokens),
            web.post(f"{BASE}/refuse-refresh", self.refuse_refresh),
            web.post(f"{BASE}/refuse", self.refuse),
            web.post(f"{BASE}/load", self.load),
            web.get(f"{BASE}/state", self.state),
            web.get(f"{BASE}/values", self.values),
            web.get(f"{BASE}/catalog", self.catalog),
        ]

    @web.middleware
    async def guard(self, request: web.Request, handler):
        """Refuse /simulator/ requests without the control key (the tenant API key never opens it)."""
        if request.path.startswith(BASE + "/") and \
                not same_secret(request.headers.get("x-simulator-key"), self.tenant.config.control_key):
            logger.info("control API refused %s %s: missing or wrong x-simulator-key", request.method, request.path)
            return json_response({"message": "Forbidden"}, 403)
        return await handler(request)

    @with_body()
    async def service(self, request: web.Request, body: dict) -> web.Response:
        """POST /service {"state": "UNAVAILABLE"|"AVAILABLE"}."""
        state = body.get("state")
        if not isinstance(state, str) or state.upper() not in (AVAILABLE, UNAVAILABLE):
            return _bad("state must be AVAILABLE or UNAVAILABLE")
        self.tenant.set_service_state(state.upper())
        return json_response({"serviceState": self.tenant.service_state})

    async def forget_clients(self, request: web.Request) -> web.Response:
        """POST /forget-clients: drop every session and its subscriptions."""
        forgotten = self.tenant.hub.end_all()
        logger.info("forgot %d Bayeux session(s)", forgotten)
        return json_response({"forgotten": forgotten})

    @with_body(parse_fault)
    async def fail(self, request: web.Request, fault: Fault) -> web.Response:
        """POST /fail {"status", "count", "scope"}: the next requests in scope fail."""
        self.tenant.faults.arm(fault)
        return json_response({"armed": self.tenant.faults.pending()})

    @with_body(required=False)
    async def clear_faults(self, request: web.Request, body: dict) -> web.Response:
        """POST /clear-faults [{"scope": S}]: disarm one scope's fault, or every fault."""
        scope = body.get("scope")
        if scope is not None and scope not in SCOPES:
            return _bad(f"scope must be one of {', '.join(SCOPES)}")
        cleared = self.tenant.faults.clear(scope)
        return json_response({"cleared": cleared, "armed": self.tenant.faults.pending()})

    @with_body(parse_lost_peek)
    async def lost_peek(self, request: web.Request, answer: tuple[int, int]) -> web.Response:
        """POST /lost-peek {"status": 404|500|200[, "code": N]}: how a peek of a subscription
        the service does not hold is answered from now on."""
        self.tenant.faults.lost_peek = answer
        return json_response({"status": answer[0], "code": answer[1]})

    @with_body(required=False)
    async def drop_subscriptions(self, request: web.Request, body: dict) -> web.Response:
        """POST /drop-subscriptions [{"ids": [...]}]: the service loses these subscriptions (all
        when absent) without telling anyone, as a back-end restart behind the API would."""
        ids = body.get("ids")
        if ids is None:
            ids = list(self.tenant.registry.by_id)
        elif not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _bad("ids must be a list of subscription ids")
        dropped = sum(1 for i in ids if self.tenant.registry.remove(i) is not None)
        logger.info("dropped %d subscription(s) silently", dropped)
        return json_response({"dropped": dropped})

    @with_body(required=False)
    async def revoke_tokens(self, request: web.Request, body: dict) -> web.Response:
        """POST /revoke-tokens [{"refresh": true}]: revoke access (and refresh) tokens."""
        refresh = body.get("refresh", False)
        if not isinstance(refresh, bool):
            return _bad("refresh must be a boolean")
        return json_response({"revoked": self.tenant.tokens.revoke_all(include_refresh=refresh)})

    @with_body(parse_refresh_refusal, required=False)
    async def refuse_refresh(self, request: web.Request, refusal: RefreshRefusal) -> web.Response:
        """POST /refuse-refresh {"status": 400|401|403, "form": "oauth"|"envelope", "count"}: refuse refresh grants."""
        self.tenant.refresh_refusals.arm(refusal)
        return json_response({"armed": self.tenant.refresh_refusals.pending()})

    @with_body(parse_refusal)
    async def refuse(self, request: web.Request, refusal: Refusal) -> web.Response:
        """POST /refuse {"method", "path", "status", "form": "envelope"|"api-key", "count"}: refuse matching requests."""
        self.tenant.refusals.arm(refusal)
        return json_response({"armed": self.tenant.refusals.pending()})

    @with_body()
    async def load(self, request: web.Request, body: dict) -> web.Response:
        """POST /load {"updates_per_second": N, "changing": false}: extra updates spread over live
        statistics (0 stops); each re-sends a statistic's value with a new time (as a
        Periodical notification does), or with ``changing`` moves a numeric value by one."""
        rate = body.get("updates_per_second")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate < 0:
            return _bad("updates_per_second must be a non-negative number")
        changing = body.get("changing", False)
        if not isinstance(changing, bool):
            return _bad("changing must be true or false")
        self.tenant.load_rate = float(rate)
        self.tenant.load_changes = changing
        return json_response({"updates_per_second": self.tenant.load_rate, "changing": changing})

    async def state(self, request: web.Request) -> web.Response:
        """GET /state: service state and counts."""
        return json_response(self.tenant.state())

    async def values(self, request: web.Request) -> web.Response:
        """GET /values: the true current value of every subscribed statistic."""
        values = [
            {"subscriptionId": sub.subscription_id, "statisticId": stat.statistic_id, "name": stat.resolved.name,
             "objectType": stat.object_type, "objectId": stat.object_id, "value": stat.value,
             "timestamp": stat.timestamp}
            for sub in self.tenant.registry.by_id.values() for stat in sub.statistics.values()
        ]
        return json_response({"values": values})

    async def catalog(self, request: web.Request) -> web.Response:
        """GET /catalog: the objects, group membership and statistics of this tenant."""
        return json_response(catalog_reply(self.tenant.model))
