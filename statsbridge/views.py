"""Operational endpoints: /metrics, /healthz, /readyz."""

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from statsbridge import metrics, store


def readiness(status: dict | None) -> tuple[bool, str, dict]:
    """Pure: whether the deployment is ready, why not, and the connection it judged."""
    connection = store.connection_from_status(status)
    if connection["bridge"] != "up":
        return False, "no active bridge (no recent heartbeat)", connection
    if connection["upstream"] not in ("connected", "polling"):
        refused = (status or {}).get("config_error")
        # A refused login or API key needs an operator; say so instead of a bare "down".
        return False, f"upstream is {connection['upstream']}" + (f": {refused}" if refused else ""), connection
    if connection["service"] != "AVAILABLE":
        return False, f"statistics service is {connection['service']}", connection
    if connection["upstream"] == "polling":
        # Degraded but serving: values are fresh, read by REST while CometD is blocked.
        every = connection.get("poll_seconds")
        every = f"{every:g}" if isinstance(every, (int, float)) else "?"
        return True, f"polling every {every} s (CometD cannot be held)", connection
    return True, "ok", connection


# Who may read /metrics and the details of /readyz: a scraper with METRICS_TOKEN as its
# bearer token, or a staff member allowed to view the bridge's statistics.
DETAILS_PERMISSION = "statsbridge.view_statistic"


def bearer_token_matches(header: str, token: str) -> bool:
    """Pure: whether an ``Authorization`` header carries ``token`` as a bearer token (constant time)."""
    scheme, _, given = (header or "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def may_see_details(request) -> bool:
    """A Prometheus scraper with the metrics token, or staff allowed to view statistics."""
    if bearer_token_matches(request.headers.get("Authorization", ""), settings.METRICS_TOKEN):
        return True
    user = getattr(request, "user", None)
    return bool(user and user.is_active and user.is_staff and user.has_perm(DETAILS_PERMISSION))


@never_cache
def metrics_view(request):
    """Prometheus exposition of this process (plus the shared bridge status); token or staff only."""
    if not may_see_details(request):
        response = HttpResponse("Metrics need the bearer token (METRICS_TOKEN).\n", status=401,
                                content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)


@never_cache
def healthz(request):
    """The process is up and serving."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """200 when the active bridge is connected and the service AVAILABLE, else 503.

    The public answer says ready or not only: why, the connection, the upstream's last
    error text and the bridge's ``hostname:pid`` go to the metrics token or staff.
    """
    status = store.read_status()
    ready, reason, connection = readiness(status)
    if not may_see_details(request):
        return JsonResponse({"ready": ready}, status=200 if ready else 503)
    body = {"ready": ready, "reason": reason, "connection": connection}
    if status:
        body.update({k: status.get(k) for k in ("subscriptions", "statistics", "wanted", "last_error", "config_error", "bridge")})
    return JsonResponse(body, status=200 if ready else 503)
