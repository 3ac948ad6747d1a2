"""The dashboard app's pages (included at the site root by ``contactboard.urls``)."""

from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.dashboard_list, name="home"),
    path("d/<slug:slug>/", views.dashboard_page, name="dashboard"),
    path("d/<slug:slug>/history/", views.history_page, name="dashboard-history"),
    path("wall/<str:token>/", views.wall_page, name="wall"),
    path("ops/", views.ops_page, name="ops"),
    path("vendor/plotly.min.js", views.plotly_js, name="plotly-js"),
]
