"""URL configuration: the dashboard app's pages, accounts, the admin, and the bridge's probes."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.urls import include, path

from dashboard import sso_views
from statsbridge import views as bridge_views

# Password reset mails a link: without a mail server (EMAIL_HOST) its pages are not served.
account_urls = [p for p in auth_urls.urlpatterns if settings.EMAIL_HOST or not p.name.startswith("password_reset")]

urlpatterns = [
    path("", include("dashboard.urls")),
    path("", include("alerts.urls")),
    # The login page offers "Sign in with Genesys" when GENESYS_SSO is on (dashboard.sso_views).
    path("accounts/login/", sso_views.LoginView.as_view(), name="login"),
    path("accounts/genesys/login/", sso_views.start, name="genesys-login"),
    path("accounts/genesys/callback/", sso_views.callback, name="genesys-callback"),
    path("accounts/", include(account_urls)),
    path("admin/", admin.site.urls),
    path("metrics", bridge_views.metrics_view, name="metrics"),
    path("healthz", bridge_views.healthz, name="healthz"),
    path("readyz", bridge_views.readyz, name="readyz"),
]

# Errors in the product's look, each with a way back (templates/403.html, 404.html, 500.html).
handler403 = "dashboard.views.permission_denied"
handler404 = "dashboard.views.page_not_found"
