"""Failures armed through the control API, consumed by the next matching requests."""

from dataclasses import dataclass
from http import HTTPStatus

SCOPES = ("statistics", "auth", "notifications")


class FaultError(ValueError):
    """A fault request that cannot be armed; the message says why."""


@dataclass
class Fault:
    """``count`` more requests in ``scope`` fail with HTTP ``status``."""

    scope: str
    status: int
    count: int


def parse_fault(body) -> Fault:
    """Validate the body of ``POST /simulator/fail``."""
    if not isinstance(body, dict):
        raise FaultError("body must be a JSON object")
    status, count, scope = body.get("status"), body.get("count", 1), body.get("scope")
    if scope not in SCOPES:
        raise FaultError(f"scope must be one of {', '.join(SCOPES)}")
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise FaultError("status must be an HTTP error status (400-599)")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise FaultError("count must be a positive integer")
    return Fault(scope, status, count)


def reason(status: int) -> str:
    """The reason phrase of an HTTP status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class FaultInjector:
    """Armed faults per scope; each matching request consumes one."""

    def __init__(self) -> None:
        self._armed: dict[str, Fault] = {}

    def arm(self, fault: Fault) -> None:
        """Arm ``fault``, replacing whatever was armed for its scope."""
        self._armed[fault.scope] = fault

    def take(self, scope: str):
        """The status the current request must fail with, or None."""
        fault = self._armed.get(scope)
        if fault is None:
            return None
        fault.count -= 1
        if fault.count <= 0:
            del self._armed[scope]
        return fault.status

    def pending(self) -> dict:
        """What is still armed, by scope."""
        return {scope: {"status": f.status, "count": f.count} for scope, f in self._armed.items()}
