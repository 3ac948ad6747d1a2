"""The Statistics API (base /statistics/v3): subscriptions, peeks and one-off reads."""

import functools
import logging

from aiohttp import web

from .catalog import StatisticError, resolve
from .faults import reason
from .gateway import gated
from .http_util import SESSION_COOKIE, json_response, read_json, request_cookies
from .subscriptions import Subscription
from .tenant import UNAVAILABLE, Tenant, find_session, now_ms

logger = logging.getLogger("statsbridge.simulator")
BASE = "/statistics/v3"


def envelope(path: str | None, code: int = 0, message: str = "OK", data=None, errors=None) -> dict:
    """The Statistics API response envelope."""
    body: dict = {"status": {"code": code, "message": message}}
    if path is not None:
        body["path"] = path
    if data is not None:
        body["data"] = data
    if errors:
        body["errors"] = errors
    return body


def item_error(message: str, **detail) -> dict:
    """One entry of ``errors`` for a bulk call."""
    return {"status": {"code": 400, "message": message, "detail": detail}}


def fail(request: web.Request, status: int, message: str, errors=None) -> web.Response:
    """An error reply in the envelope; logged once."""
    logger.info("statistics API %s %s -> %d: %s", request.method, request.path, status, message)
    return json_response(envelope(request.path, status, message, errors=errors), status)


def _fault_body(status: int) -> dict:
    return envelope(None, status, reason(status))


def _unavailable(request: web.Request, tenant: Tenant) -> web.Response | None:
    """The service's own refusal while it is UNAVAILABLE (DELETE and unknown paths do without it)."""
    return fail(request, 503, "Statistics service is unavailable") if tenant.service_state == UNAVAILABLE else None


# Every Statistics API route is behind the gateway in the "statistics" fault scope.
_gateway = functools.partial(gated, "statistics", _fault_body)


def _verbose(request: web.Request) -> bool | None:
    value = request.query.get("verbose", "INFO").upper()
    return {"INFO": True, "OFF": False}.get(value)


def statistic_ids(values: list) -> list | None:
    """``statisticIds`` from either form (``a,b`` or repeated keys); None when absent."""
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return ids or None


def _statistics_list(body) -> list | None:
    data = body.get("data") if isinstance(body, dict) else None
    statistics = data.get("statistics") if isinstance(data, dict) else None
    return statistics if isinstance(statistics, list) and statistics else None


class StatisticsApi:
    """Handlers of the five Statistics API calls."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def routes(self) -> list:
        """The routes to add to the application."""
        return [
            web.post(f"{BASE}/subscriptions", self.create_subscription),
            web.get(f"{BASE}/subscriptions/{{id}}/statistic-values", self.peek),
            web.delete(f"{BASE}/subscriptions/{{id}}", self.delete),
            web.post(f"{BASE}/operations/get-statistic-ex", self.get_statistic_ex),
            web.get(f"{BASE}/statistic-values/{{name}}", self.get_statistic_value),
        ]

    def _create_fault(self):
        """The fault armed for the next create that the endpoint itself builds (consumed):
        a partial success (code 2) or a lost reply; None otherwise."""
        fault = self.tenant.faults.armed("subscriptions")
        if fault is not None and ((fault.status == 200 and fault.code == 2) or fault.lost_reply):
            return self.tenant.faults.take_fault("subscriptions")
        return None

    async def _body(self, request: web.Request):
        try:
            body = await read_json(request)
        except ValueError as error:
            return None, fail(request, 400, str(error))
        if not isinstance(body, dict):
            return None, fail(request, 400, "request body must be a JSON object")
        return body, None

    @_gateway(service=_unavailable, endpoint_scope="subscriptions")
    async def create_subscription(self, request: web.Request) -> web.Response:
        """POST /subscriptions: open statistics; subscriptionId = operationId."""
        fault = self._create_fault()
        partial = fault is not None and not fault.lost_reply
        verbose = _verbose(request)
        if verbose is None:
            return fail(request, 400, "verbose must be INFO or OFF")
        body, bad = await self._body(request)
        if bad:
            return bad
        operation_id = body.get("operationId")
        if not isinstance(operation_id, str) or not operation_id:
            return fail(request, 400, "operationId is required")
        descriptors = _statistics_list(body)
        if descriptors is None:
            return fail(request, 400, "data.statistics must be a non-empty list")
        if operation_id in self.tenant.registry.by_id:
            return fail(request, 400, f"subscription {operation_id} already exists")
        session = find_session(self.tenant, request_cookies(request).get(SESSION_COOKIE))
        if session is None:
            logger.info("subscription %s has no live CometD session cookie: it will not be notified", operation_id)
        subscription = Subscription(operation_id, session, verbose)
        errors = []
        for descriptor in descriptors:
            error = self._open(subscription, descriptor)
            if error:
                errors.append(error)
        if partial:
            # Armed partial success: the second half of what opened is refused, each by name.
            opened = list(subscription.statistics)
            for statistic_id in opened[(len(opened) + 1) // 2:]:
                del subscription.statistics[statistic_id]
                errors.append(item_error("Simulated refusal: statistic not opened", statisticId=statistic_id))
        if not subscription.statistics:
            return fail(request, 400, "no statistic could be opened", errors)
        self.tenant.registry.add(subscription)
        if fault is not None and fault.lost_reply:
            logger.info("injected fault: %s created, then its reply lost (%d)", operation_id, fault.status)
            return json_response(_fault_body(fault.status), fault.status)
        data = {"operationId": operation_id, "subscriptionId": operation_id,
                "statistics": [s.item(verbose) for s in subscription.statistics.values()]}
        return self._reply(request, data, errors)

    def _open(self, subscription: Subscription, descriptor) -> dict | None:
        if not isinstance(descriptor, dict):
            return item_error("each statistic must be an object")
        statistic_id = descriptor.get("statisticId")
        if not isinstance(statistic_id, str) or not statistic_id:
            return item_error("statisticId is required", name=descriptor.get("name"))
        if statistic_id in subscription.statistics:
            return item_error(f"duplicate statisticId {statistic_id!r}", statisticId=statistic_id)
        try:
            resolved = resolve(descriptor, self.tenant.model.has_object)
        except StatisticError as error:
            return item_error(str(error), statisticId=statistic_id)
        subscription.statistics[statistic_id] = self.tenant.open_statistic(
            subscription.subscription_id, statistic_id, descriptor, resolved)
        return None

    def _reply(self, request: web.Request, data: dict, errors: list) -> web.Response:
        if errors:
            logger.info("statistics API %s %s: partial success, %d item(s) refused",
                        request.method, request.path, len(errors))
            return json_response(envelope(request.path, 2, "Partial success", data, errors))
        return json_response(envelope(request.path, 0, "OK", data))

    @_gateway(service=_unavailable, endpoint_scope="peek")
    async def peek(self, request: web.Request) -> web.Response:
        """GET /subscriptions/{id}/statistic-values: current values of (some of) its statistics."""
        verbose = _verbose(request)
        if verbose is None:
            return fail(request, 400, "verbose must be INFO or OFF")
        subscription_id = request.match_info["id"]
        subscription = self.tenant.registry.by_id.get(subscription_id)
        if subscription is None:
            status, code = self.tenant.faults.lost_peek  # see POST /simulator/lost-peek
            message = f"subscription {subscription_id} not found"
            logger.info("statistics API %s %s -> %d code %d: %s", request.method, request.path, status, code, message)
            return json_response(envelope(request.path, code, message), status)
        wanted = statistic_ids(request.query.getall("statisticIds", []))
        ids = wanted if wanted is not None else list(subscription.statistics)
        found = [subscription.statistics[i] for i in ids if i in subscription.statistics]
        errors = [item_error(f"unknown statisticId {i!r} in subscription {subscription_id}", statisticId=i)
                  for i in ids if i not in subscription.statistics]
        if not found:
            return fail(request, 400, "none of the requested statistics is in the subscription", errors)
        data = {"subscriptionId": subscription_id, "statistics": [s.item(verbose) for s in found]}
        return self._reply(request, data, errors)

    @_gateway()
    async def delete(self, request: web.Request) -> web.Response:
        """DELETE /subscriptions/{id}: fire and forget, always succeeds (also while UNAVAILABLE).

        The reference: "a fire-and-forget operation that always returns a success response".
        Only the gateway (API key, token, armed faults) can refuse it.
        """
        self.tenant.registry.remove(request.match_info["id"])
        return json_response(envelope(request.path))

    @_gateway(service=_unavailable)
    async def get_statistic_ex(self, request: web.Request) -> web.Response:
        """POST /operations/get-statistic-ex: values without a subscription."""
        body, bad = await self._body(request)
        if bad:
            return bad
        descriptors = _statistics_list(body)
        if descriptors is None:
            return fail(request, 400, "data.statistics must be a non-empty list")
        values, errors = [], []
        for index, descriptor in enumerate(descriptors):
            try:
                if not isinstance(descriptor, dict):
                    raise StatisticError("each statistic must be an object")
                values.append(self._read(descriptor, resolve(descriptor, self.tenant.model.has_object)))
            except StatisticError as error:
                name = descriptor.get("name") if isinstance(descriptor, dict) else None
                errors.append(item_error(str(error), index=index, name=name))
        if not values:
            return fail(request, 400, "no statistic could be read", errors)
        return self._reply(request, {"statistics": values}, errors)

    def _read(self, descriptor: dict, resolved) -> dict:
        object_type, object_id = descriptor["objectType"], descriptor["objectId"]
        return {"name": resolved.name, "objectId": object_id, "objectType": object_type,
                "value": self.tenant.compute(resolved, object_type, object_id), "timestamp": now_ms()}

    @_gateway(service=_unavailable)
    async def get_statistic_value(self, request: web.Request) -> web.Response:
        """GET /statistic-values/{name}?objectId=&objectType=: one value without a subscription."""
        descriptor = {"name": request.match_info["name"], "objectId": request.query.get("objectId"),
                      "objectType": request.query.get("objectType")}
        try:
            resolved = resolve(descriptor, self.tenant.model.has_object)
        except StatisticError as error:
            return fail(request, 400, str(error))
        return json_response(envelope(request.path, data={"statistic": self._read(descriptor, resolved)}))

    @_gateway()
    async def not_found(self, request: web.Request) -> web.Response:
        """Anything else under /statistics/v3."""
        return fail(request, 404, f"no such resource: {request.method} {request.path}")
