"""Least privilege: the custom admin and ops views check the model permission, not only
``is_staff``; /readyz tells the public ready or not only; /metrics needs its bearer token;
WebSocket Origins must match scheme, host and port; import refuses what the admin refuses
and files over its limit; password reset exists only with a mail server."""

import io
import json

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import clear_url_caches

from contactboard.asgi import application
from dashboard.models import Dashboard, Display, Widget
from dashboard.security import origin_allowed
from dashboard.transfer import DashboardImportError, export_dashboards, import_dashboards
from statsbridge import store
from statsbridge.views import bearer_token_matches

TOKEN = "test-metrics-token"  # tests/settings.py


def staff(*permissions: str) -> User:
    """A staff user with exactly these permissions (``app.codename``)."""
    user = User.objects.create_user(f"staff{User.objects.count()}", password="pw-staff-8421", is_staff=True)
    for name in permissions:
        app, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_without_display_permissions_cannot_see_the_fleet_or_reload_walls(demo):
    display = Display.objects.first()
    bare = as_user(staff())
    assert bare.get("/admin/dashboard/display/").status_code == 403
    assert bare.get("/admin/dashboard/display/fleet/").status_code == 403
    assert bare.post(f"/admin/dashboard/display/{display.pk}/reload/").status_code == 403
    viewer = as_user(staff("dashboard.view_display"))
    assert viewer.get("/admin/dashboard/display/fleet/").status_code == 200
    assert viewer.post(f"/admin/dashboard/display/{display.pk}/reload/").status_code == 403
    editor = as_user(staff("dashboard.view_display", "dashboard.change_display"))
    assert editor.post(f"/admin/dashboard/display/{display.pk}/reload/").status_code == 302


def test_the_cost_preview_needs_a_widget_permission(demo):
    widget = Widget.objects.first()
    url = f"/admin/dashboard/widget/cost-preview/?widget={widget.pk}&statistics="
    assert as_user(staff()).get(url).status_code == 403
    assert as_user(staff("dashboard.change_widget")).get(url).status_code == 200


def test_import_needs_the_add_permission(demo):
    assert as_user(staff("dashboard.view_dashboard")).get("/admin/dashboard/dashboard/import/").status_code == 403
    assert as_user(staff("dashboard.add_dashboard")).get("/admin/dashboard/dashboard/import/").status_code == 200


def test_ops_needs_the_statistic_permissions(demo):
    assert as_user(staff()).get("/ops/").status_code == 403
    viewer = as_user(staff("statsbridge.view_statistic"))
    assert viewer.get("/ops/").status_code == 200
    assert viewer.post("/ops/", {"action": "resubscribe"}).status_code == 403
    operator = as_user(staff("statsbridge.view_statistic", "statsbridge.change_statistic"))
    assert operator.post("/ops/", {"action": "resubscribe"}).status_code == 302


def failing_status() -> dict:
    """A bridge status with an upstream error text and a host:pid, as the bridge publishes them."""
    return {"bridge": "secret-host:4242", "heartbeat": 0, "last_error": "401 from https://tenant.internal/api",
            "connection": {"bridge": "down", "upstream": "error", "service": "UNKNOWN"}}


def test_readyz_tells_the_public_ready_or_not_only(db, client):
    store.write(status=failing_status())
    public = client.get("/readyz")
    assert public.status_code == 503
    assert public.json() == {"ready": False}
    detailed = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert detailed.status_code == 503
    assert detailed.json()["reason"] and "connection" in detailed.json()
    assert as_user(staff("statsbridge.view_statistic")).get("/readyz").json()["reason"]


def test_metrics_need_the_bearer_token(db, client):
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert b"ccdash_" not in refused.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    scraped = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert scraped.status_code == 200 and b"ccdash_" in scraped.content
    assert as_user(staff()).get("/metrics").status_code == 401, "staff without the statistic permission"


def test_bearer_token_parsing():
    assert bearer_token_matches("Bearer abc", "abc")
    assert bearer_token_matches("bearer  abc ", "abc")
    assert not bearer_token_matches("Basic abc", "abc")
    assert not bearer_token_matches("Bearer abc", "")  # unset: nobody
    assert not bearer_token_matches("", "")


@pytest.mark.parametrize("origin, host, secure, allowed", [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", False, True),
    ("http://127.0.0.1:8001", "127.0.0.1:8000", False, False),  # another port of an allowed host
    ("https://127.0.0.1:8000", "127.0.0.1:8000", False, False),  # another scheme
    ("http://dash.example.com", "dash.example.com", True, False),
    ("https://dash.example.com", "dash.example.com", True, True),
    ("https://dash.example.com:443", "dash.example.com", True, True),  # default port written out
    ("http://127.0.0.1:8000", "", False, False),
    ("null", "127.0.0.1:8000", False, False),
])
def test_origin_must_be_the_pages_own_scheme_host_and_port(origin, host, secure, allowed):
    assert origin_allowed(origin, host, secure) is allowed


@pytest.mark.django_db(transaction=True)
async def test_a_socket_from_another_port_of_an_allowed_host_is_refused():
    for origin, expected in ((b"http://127.0.0.1:9999", False), (b"http://127.0.0.1:8000", True)):
        communicator = WebsocketCommunicator(application, "/ws/wall/not-a-token/",
                                             headers=[(b"host", b"127.0.0.1:8000"), (b"origin", origin)])
        connected, code = await communicator.connect()
        # Past the Origin check the wall consumer itself refuses the made-up token with 4403;
        # the Origin check closes before that, with channels' plain denial.
        assert not connected
        assert (code == 4403) is expected, (origin, code)
        await communicator.disconnect()


def test_import_refuses_an_object_type_the_admin_form_refuses(demo):
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    document["dashboards"][0]["slug"] = "imported"
    document["dashboards"][0]["widgets"][0]["statistics"][0]["object_type"] = "<script>"
    with pytest.raises(DashboardImportError) as refused:
        import_dashboards(document)
    assert any("Unknown object type '<script>'" in p for p in refused.value.problems), refused.value.problems
    assert not Dashboard.objects.filter(slug="imported").exists()


@override_settings(REQUEST_BODY_LIMITS={"DEFAULT": 4096, "IMPORT": 1024})
def test_an_import_file_over_the_limit_is_refused_with_a_clear_problem(demo):
    client = as_user(User.objects.get(username=demo.username))
    document = export_dashboards(Dashboard.objects.filter(slug="overview"))
    upload = io.BytesIO(json.dumps(document).encode())
    upload.name = "dashboards.json"
    response = client.post("/admin/dashboard/dashboard/import/", {"file": upload})
    assert response.status_code == 400
    assert "larger than the import limit" in response.content.decode()


@pytest.mark.parametrize("email_host, status", [("", 404), ("mail.example.com", 200)])
def test_password_reset_exists_only_with_a_mail_server(db, email_host, status):
    import importlib

    import contactboard.urls

    with override_settings(EMAIL_HOST=email_host):
        importlib.reload(contactboard.urls)
        clear_url_caches()
        assert Client().get("/accounts/password_reset/").status_code == status
    importlib.reload(contactboard.urls)
    clear_url_caches()
