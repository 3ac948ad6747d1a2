"""URL configuration."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.urls import include, path

from dashboard import views
from statsbridge import views as bridge_views

# Password reset mails a link: without a mail server (EMAIL_HOST) its pages are not served.
account_urls = [p for p in auth_urls.urlpatterns if settings.EMAIL_HOST or not p.name.startswith("password_reset")]

urlpatterns = [
    path("", views.dashboard_list, name="home"),
    path("accounts/", include(account_urls)),
    path("d/<slug:slug>/", views.dashboard_page, name="dashboard"),
    path("d/<slug:slug>/history/", views.history_page, name="dashboard-history"),
    path("wall/<str:token>/", views.wall_page, name="wall"),
    path("ops/", views.ops_page, name="ops"),
    path("vendor/plotly.min.js", views.plotly_js, name="plotly-js"),
    path("admin/", admin.site.urls),
    path("metrics", bridge_views.metrics_view, name="metrics"),
    path("healthz", bridge_views.healthz, name="healthz"),
    path("readyz", bridge_views.readyz, name="readyz"),
]

# Errors in the product's look, each with a way back (templates/403.html, 404.html, 500.html).
handler403 = "dashboard.views.permission_denied"
handler404 = "dashboard.views.page_not_found"
