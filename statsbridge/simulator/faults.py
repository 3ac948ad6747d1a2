"""Failures armed through the control API, consumed by the next matching requests.

Scopes: ``statistics`` (every Statistics API call), ``subscriptions`` (``POST /subscriptions``
only), ``peek`` (``GET /subscriptions/{id}/statistic-values`` only), ``auth`` and
``notifications``. A fault answers an HTTP error status, or HTTP 200 with an error
``status.code`` in the envelope (the reference's generic error form), or, for
``subscriptions``, HTTP 200 code 2: a partial success refusing half of the statistics.
``lost_reply`` (``subscriptions`` only) creates the subscription all the same and then
answers the error, as when a gateway times out after the back end did the work.
``count: "forever"`` keeps it armed until ``/simulator/clear-faults``; ``cut_after``
(``notifications`` only) holds each request that many seconds and answers 504, as a
proxy that kills long-polls does, without the request ever reaching the service.
"""

from dataclasses import dataclass
from http import HTTPStatus

SCOPES = ("statistics", "subscriptions", "peek", "auth", "notifications")
ENVELOPE_SCOPES = ("statistics", "subscriptions", "peek")
FOREVER = "forever"


class FaultError(ValueError):
    """A fault request that cannot be armed; the message says why."""


@dataclass
class Fault:
    """``count`` more requests in ``scope`` fail with HTTP ``status`` (None count: forever);
    ``code`` is the envelope's ``status.code`` when ``status`` is 200; ``cut_after`` seconds
    of holding before a proxy's 504."""

    scope: str
    status: int
    count: int | None
    code: int | None = None
    cut_after: float | None = None
    lost_reply: bool = False  # subscriptions: created all the same, then the error is answered

    def describe(self) -> dict:
        """What is armed, for /simulator/state."""
        found: dict = {"status": self.status, "count": FOREVER if self.count is None else self.count}
        if self.code is not None:
            found["code"] = self.code
        if self.cut_after is not None:
            found["cut_after"] = self.cut_after
        if self.lost_reply:
            found["lost_reply"] = True
        return found


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_fault(body) -> Fault:
    """Validate the body of ``POST /simulator/fail``."""
    if not isinstance(body, dict):
        raise FaultError("body must be a JSON object")
    status, count, scope = body.get("status"), body.get("count", 1), body.get("scope")
    code, cut_after, lost_reply = body.get("code"), body.get("cut_after"), body.get("lost_reply", False)
    if not isinstance(lost_reply, bool) or (lost_reply and scope != "subscriptions"):
        raise FaultError("lost_reply is a boolean, for the subscriptions scope")
    if scope not in SCOPES:
        raise FaultError(f"scope must be one of {', '.join(SCOPES)}")
    if cut_after is not None:
        if scope != "notifications":
            raise FaultError("cut_after is for the notifications scope")
        if isinstance(cut_after, bool) or not isinstance(cut_after, (int, float)) or not 0 <= cut_after <= 600:
            raise FaultError("cut_after must be a number of seconds (0-600)")
        status = 504 if status is None else status
    if status == 200 and scope in ENVELOPE_SCOPES:
        if not _is_int(code) or code in (0, 1) or (code == 2 and scope != "subscriptions"):
            raise FaultError("status 200 needs an error code (2, partial success, for subscriptions only)")
    elif not _is_int(status) or not 400 <= status <= 599:
        raise FaultError("status must be an HTTP error status (400-599)")
    elif code is not None and (not _is_int(code) or scope not in ENVELOPE_SCOPES):
        raise FaultError("code must be an integer, for the statistics, subscriptions and peek scopes")
    if count == FOREVER:
        count = None
    elif not _is_int(count) or count < 1:
        raise FaultError('count must be a positive integer or "forever"')
    return Fault(scope, status, count, code, float(cut_after) if cut_after is not None else None, lost_reply)


def reason(status: int) -> str:
    """The reason phrase of an HTTP status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


LOST_PEEK_FORMS = {404: 404, 500: 500}


def parse_lost_peek(body) -> tuple[int, int]:
    """Validate ``POST /simulator/lost-peek {"status": 404|500|200[, "code": N]}``."""
    if not isinstance(body, dict):
        raise FaultError("body must be a JSON object")
    status, code = body.get("status"), body.get("code")
    if status == 200:
        code = 500 if code is None else code
        if not _is_int(code) or code in (0, 1, 2):
            raise FaultError("code must be an error status.code (not 0, 1 or 2)")
        return 200, code
    if status not in LOST_PEEK_FORMS or code is not None:
        raise FaultError("status must be 404, 500, or 200 with an error code")
    return status, LOST_PEEK_FORMS[status]


class FaultInjector:
    """Armed faults per scope; each matching request consumes one."""

    def __init__(self) -> None:
        self._armed: dict[str, Fault] = {}
        # How a peek of a subscription the service does not hold is answered: (HTTP status,
        # envelope status.code). The reference lists 200/500/503/504 for a peek, never 404.
        self.lost_peek: tuple[int, int] = (404, 404)

    def armed(self, scope: str) -> Fault | None:
        """The fault armed for ``scope`` (not consumed), or None."""
        return self._armed.get(scope)

    def arm(self, fault: Fault) -> None:
        """Arm ``fault``, replacing whatever was armed for its scope."""
        self._armed[fault.scope] = fault

    def take(self, scope: str):
        """The status the current request must fail with, or None."""
        fault = self.take_fault(scope)
        return None if fault is None else fault.status

    def take_fault(self, scope: str) -> Fault | None:
        """The fault the current request must meet (consumed), or None."""
        fault = self._armed.get(scope)
        if fault is None:
            return None
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                del self._armed[scope]
        return fault

    def clear(self, scope: str | None = None) -> int:
        """Disarm ``scope`` (every scope when None); returns how many were armed."""
        if scope is None:
            count = len(self._armed)
            self._armed.clear()
            return count
        return 1 if self._armed.pop(scope, None) is not None else 0

    def pending(self) -> dict:
        """What is still armed, by scope."""
        return {scope: f.describe() for scope, f in self._armed.items()}
