"""Documented error answers armed through the control API (no I/O).

Each arm makes the next matching requests answer one of the error forms the reference
documents, so tests can prove the client handles every one of them:

- ``RefreshRefusals``: the next ``refresh_token`` grants are refused with HTTP 400, 401
  or 403, in the OAuth form (``{"error", "error_description"}``) or the envelope form
  (``{"status": {"code", "message"}}``) the reference shows for ``/oauth/token``;
- ``Refusals``: the next requests matching a method and path are answered with an HTTP
  error, either in the ApiResponse envelope (an ordinary answer of the API, e.g. a 403
  of ``POST /subscriptions``) or as the API gateway's key rejection ``{"message": "Forbidden"}``.
"""

from dataclasses import dataclass

from .faults import FaultError, reason

REFRESH_STATUSES = (400, 401, 403)
REFRESH_FORMS = ("oauth", "envelope")
REFUSAL_FORMS = ("envelope", "api-key")
METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")


def _count(body: dict) -> int:
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise FaultError("count must be a positive integer")
    return count


@dataclass
class RefreshRefusal:
    """How the next refresh grants are refused, and how many more."""

    status: int
    form: str
    count: int

    def body(self) -> dict:
        """The reply body in the armed form."""
        if self.form == "envelope":
            return {"status": {"code": self.status, "message": "Invalid refresh token"}}
        error = "invalid_grant" if self.status == 400 else "invalid_token" if self.status == 401 else "access_denied"
        return {"error": error, "error_description": "Invalid refresh token"}


def parse_refresh_refusal(body) -> RefreshRefusal:
    """Validate the body of ``POST /simulator/refuse-refresh``."""
    if not isinstance(body, dict):
        raise FaultError("body must be a JSON object")
    status, form = body.get("status", 400), body.get("form", "oauth")
    if status not in REFRESH_STATUSES or isinstance(status, bool):
        raise FaultError(f"status must be one of {', '.join(map(str, REFRESH_STATUSES))}")
    if form not in REFRESH_FORMS:
        raise FaultError(f"form must be one of {', '.join(REFRESH_FORMS)}")
    return RefreshRefusal(status, form, _count(body))


@dataclass
class Refusal:
    """``count`` more ``method`` requests to ``path`` are answered HTTP ``status`` in ``form``."""

    method: str
    path: str
    status: int
    form: str
    count: int

    def body(self, path: str) -> dict:
        """The reply body in the armed form."""
        if self.form == "api-key":
            return {"message": "Forbidden"}
        return {"status": {"code": self.status, "message": reason(self.status)}, "path": path}


def parse_refusal(body) -> Refusal:
    """Validate the body of ``POST /simulator/refuse``."""
    if not isinstance(body, dict):
        raise FaultError("body must be a JSON object")
    method, path = body.get("method", "POST"), body.get("path")
    status, form = body.get("status", 403), body.get("form", "envelope")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise FaultError(f"method must be one of {', '.join(METHODS)}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise FaultError("path must be a request path such as /statistics/v3/subscriptions")
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise FaultError("status must be an HTTP error status (400-599)")
    if form not in REFUSAL_FORMS:
        raise FaultError(f"form must be one of {', '.join(REFUSAL_FORMS)}")
    return Refusal(method.upper(), path.rstrip("/") or "/", status, form, _count(body))


class RefreshRefusals:
    """The armed refresh refusal, if any; each refresh grant consumes one."""

    def __init__(self) -> None:
        self.armed: RefreshRefusal | None = None

    def arm(self, refusal: RefreshRefusal) -> None:
        """Arm ``refusal``, replacing what was armed."""
        self.armed = refusal

    def take(self) -> RefreshRefusal | None:
        """The refusal the current refresh grant gets, or None."""
        armed = self.armed
        if armed is None:
            return None
        armed.count -= 1
        if armed.count <= 0:
            self.armed = None
        return armed

    def pending(self) -> dict | None:
        """What is still armed."""
        armed = self.armed
        return None if armed is None else {"status": armed.status, "form": armed.form, "count": armed.count}


class Refusals:
    """Armed refusals by (method, path); each matching request consumes one."""

    def __init__(self) -> None:
        self._armed: dict[tuple[str, str], Refusal] = {}

    def arm(self, refusal: Refusal) -> None:
        """Arm ``refusal``, replacing what was armed for its method and path."""
        self._armed[(refusal.method, refusal.path)] = refusal

    def take(self, method: str, path: str) -> Refusal | None:
        """The refusal the request ``method path`` gets, or None."""
        key = (method.upper(), path.rstrip("/") or "/")
        refusal = self._armed.get(key)
        if refusal is None:
            return None
        refusal.count -= 1
        if refusal.count <= 0:
            del self._armed[key]
        return refusal

    def pending(self) -> list:
        """What is still armed."""
        return [{"method": r.method, "path": r.path, "status": r.status, "form": r.form, "count": r.count}
                for r in self._armed.values()]
