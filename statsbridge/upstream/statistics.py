"""Client of the Genesys Statistics REST API (base ``/statistics/v3``).

All five calls, on the shared session. Replies are decoded from the Statistics
envelope: codes 0 and 1 are success, 2 is a partial success (what worked plus one
error per failed item), anything else raises ``StatisticsApiError``. 502/503/504 and
connection failures are retried with capped, jittered backoff; other 4xx/5xx are not.
A 401 invalidates the token and the call is retried once with a new one. A 403 is a
bad API key only in the gateway's ``{"message": "Forbidden"}`` form; a 403 in the
envelope is an ordinary error answer (``StatisticsApiError``).
"""

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

from statsbridge.upstream.auth import TokenProvider
from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.errors import (
    AuthenticationError,
    BadApiKey,
    StatisticsApiError,
    TransientError,
    is_api_key_rejection,
)

logger = logging.getLogger(__name__)

BASE_PATH = "/statistics/v3"
RETRIED_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class ItemError:
    """One failed item of a partial (code 2) bulk reply."""

    code: int | None
    message: str
    detail: object = None


@dataclass(frozen=True)
class StatisticsResult:
    """A decoded success envelope: ``data`` plus per-item ``errors`` when partial."""

    code: int
    data: dict
    errors: tuple[ItemError, ...] = ()
    path: str = ""

    @property
    def partial(self) -> bool:
        """True for a code-2 reply: some items failed, see ``errors``."""
        return self.code == 2


def decode_envelope(body: object, *, path: str, http_status: int = 200) -> StatisticsResult:
    """Decode a Statistics API envelope, raising ``StatisticsApiError`` unless code 0/1/2."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), dict):
        raise StatisticsApiError(code=None, message="reply is not a Statistics envelope", path=path,
                                 http_status=http_status)
    status = body["status"]
    code = status.get("code")
    message = status.get("message") if isinstance(status.get("message"), str) else ""
    if not isinstance(code, int) or isinstance(code, bool):
        raise StatisticsApiError(code=None, message="envelope has no integer status.code", path=path,
                                 http_status=http_status)
    if code not in (0, 1, 2):
        raise StatisticsApiError(code=code, message=message or "error", path=path, http_status=http_status)
    data = body.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise StatisticsApiError(code=code, message="envelope data is not an object", path=path,
                                 http_status=http_status)
    errors = []
    for item in body.get("errors") or []:
        item_status = item.get("status") if isinstance(item, dict) else None
        if isinstance(item_status, dict):
            item_code = item_status.get("code")
            errors.append(ItemError(
                code=item_code if isinstance(item_code, int) and not isinstance(item_code, bool) else None,
                message=str(item_status.get("message", "")),
                detail=item_status.get("detail"),
            ))
        else:
            errors.append(ItemError(code=None, message="malformed error item"))
    return StatisticsResult(code=code, data=data, errors=tuple(errors), path=path)


class StatisticsClient:
    """The five Statistics API calls, with retries and token refresh."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        tokens: TokenProvider,
        *,
        attempts: int = 5,
        backoff: Backoff = Backoff(base=0.5, cap=10.0),
        request_timeout: float = 30.0,
        sleep: Callable = asyncio.sleep,
    ):
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self._session = session
        self._base = api_url.rstrip("/") + BASE_PATH
        self._tokens = tokens
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"<StatisticsClient {self._base}>"

    async def create_subscription(self, statistics: Sequence[dict], *, operation_id: str | None = None,
                                  verbose: str = "INFO", attempts: int | None = None) -> StatisticsResult:
        """``POST /subscriptions``: subscribe ``statistics`` (each {statisticId, objectId, objectType,
        name | definition}); ``data.subscriptionId`` equals the operation id.

        ``attempts=1`` leaves transient failures to the caller: a create whose reply was lost
        may exist upstream, and retrying it under the same operation id is refused by tenants
        as a duplicate (``statsbridge.subscribing`` deletes it and retries under a new id)."""
        body = {"operationId": operation_id or str(uuid.uuid4()), "data": {"statistics": list(statistics)}}
        return await self._call("POST", "/subscriptions", params={"verbose": verbose}, json=body, attempts=attempts)

    async def get_subscription_values(self, subscription_id: str, statistic_ids: Iterable[str] | None = None,
                                      *, verbose: str = "INFO") -> StatisticsResult:
        """``GET /subscriptions/{id}/statistic-values`` (peek); ``statistic_ids`` None means all."""
        params = {"verbose": verbose}
        ids = list(statistic_ids or [])
        if ids:
            params["statisticIds"] = ",".join(ids)
        return await self._call("GET", f"/subscriptions/{_segment(subscription_id)}/statistic-values",
                                params=params)

    async def delete_subscription(self, subscription_id: str) -> StatisticsResult:
        """``DELETE /subscriptions/{id}``."""
        return await self._call("DELETE", f"/subscriptions/{_segment(subscription_id)}")

    async def get_statistic_ex(self, statistics: Sequence[dict]) -> StatisticsResult:
        """``POST /operations/get-statistic-ex``: one-off values of {name, objectId, objectType} items."""
        return await self._call("POST", "/operations/get-statistic-ex",
                                json={"data": {"statistics": list(statistics)}})

    async def get_statistic_value(self, name: str, object_id: str, object_type: str) -> StatisticsResult:
        """``GET /statistic-values/{name}?objectId=&objectType=``: one statistic's value."""
        return await self._call("GET", f"/statistic-values/{_segment(name)}",
                                params={"objectId": object_id, "objectType": object_type})

    async def _call(self, method: str, path: str, *, params: dict | None = None,
                    json: dict | None = None, attempts: int | None = None) -> StatisticsResult:
        attempts = attempts or self._attempts
        failures = 0
        reauthenticated = False
        full_path = BASE_PATH + path
        while True:
            try:
                token = await self._tokens.get()
                status, body = await self._request(method, path, token, params, json)
            except TransientError as error:
                failures += 1
                if failures >= attempts:
                    raise
                delay = self._backoff.delay(failures)
                logger.warning("%s %s failed (%s); retry %d in %.1f s", method, full_path, error, failures, delay)
                await self._sleep(delay)
                continue
            if status == 401:
                self._tokens.invalidate(token)
                if reauthenticated:
                    raise AuthenticationError(f"{full_path}: HTTP 401 even with a new token")
                reauthenticated = True
                continue
            if is_api_key_rejection(status, body):
                # {"message": "Forbidden"}: the gateway refused the key. A 403 in the envelope
                # is an answer of the API itself and is decoded below like any other error.
                raise BadApiKey(full_path)
            return decode_envelope(body, path=full_path, http_status=status)

    async def _request(self, method, path, token, params, json) -> tuple[int, object]:
        """One HTTP exchange. Returns (status, decoded JSON or None); raises TransientError."""
        try:
            async with self._session.request(
                method, self._base + path, params=params, json=json,
                headers={"Authorization": f"Bearer {token}"}, timeout=self._timeout,
            ) as response:
                if response.status in RETRIED_STATUSES:
                    raise TransientError(f"HTTP {response.status}", status=response.status)
                try:
                    body = await response.json(content_type=None)
                except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
                    body = None
                return response.status, body
        except (TimeoutError, aiohttp.ClientError) as error:
            raise TransientError(type(error).__name__) from None


def _segment(value: str) -> str:
    """Quote a value used as one URL path segment."""
    return quote(str(value), safe="")
