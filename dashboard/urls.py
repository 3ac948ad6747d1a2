"""The dashboard app's pages (included at the site root by ``contactboard.urls``)."""

from django.urls import path

from dashboard import editing, views

urlpatterns = [
    path("", views.dashboard_list, name="home"),
    path("d/<slug:slug>/", views.dashboard_page, name="dashboard"),
    path("d/<slug:slug>/history/", views.history_page, name="dashboard-history"),
    path("wall/<str:token>/", views.wall_page, name="wall"),
    path("ops/", views.ops_page, name="ops"),
    path("edit/", editing.editor_list, name="editor-list"),
    path("edit/check/", editing.editor_check, name="editor-check"),
    path("edit/objects/", editing.editor_objects, name="editor-objects"),
    path("edit/<slug:slug>/", editing.editor_page, name="editor"),
    path("edit/<slug:slug>/save/", editing.editor_save, name="editor-save"),
    path("edit/<slug:slug>/cost/", editing.editor_cost, name="editor-cost"),
    path("edit/<slug:slug>/values/", editing.editor_values, name="editor-values"),
    path("edit/<slug:slug>/duplicate/", editing.editor_duplicate, name="editor-duplicate"),
    path("edit/<slug:slug>/delete/", editing.editor_delete, name="editor-delete"),
    path("vendor/plotly.min.js", views.plotly_js, name="plotly-js"),
]
