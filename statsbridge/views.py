"""Operational endpoints: /metrics, /healthz, /readyz."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from statsbridge import metrics, values


def readiness(status: dict | None) -> tuple[bool, str, dict]:
    """Pure: whether the deployment is ready, why not, and the connection it judged."""
    connection = values.connection_from_status(status)
    if connection["bridge"] != "up":
        return False, "no active bridge (no recent heartbeat)", connection
    if connection["upstream"] not in ("connected", "polling"):
        return False, f"upstream is {connection['upstream']}", connection
    if connection["service"] != "AVAILABLE":
        return False, f"statistics service is {connection['service']}", connection
    if connection["upstream"] == "polling":
        # Degraded but serving: values are fresh, read by REST while CometD is blocked.
        every = connection.get("poll_seconds")
        every = f"{every:g}" if isinstance(every, (int, float)) else "?"
        return True, f"polling every {every} s (CometD cannot be held)", connection
    return True, "ok", connection


@never_cache
def metrics_view(request):
    """Prometheus exposition of this process (plus the shared bridge status)."""
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)


@never_cache
def healthz(request):
    """The process is up and serving."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """200 when the active bridge is connected and the service AVAILABLE, else 503 with why."""
    status = values.read_status()
    ready, reason, connection = readiness(status)
    body = {"ready": ready, "reason": reason, "connection": connection}
    if status:
        body.update({k: status.get(k) for k in ("subscriptions", "statistics", "wanted", "last_error", "bridge")})
    return JsonResponse(body, status=200 if ready else 503)
