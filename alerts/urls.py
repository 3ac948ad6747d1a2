"""The alert pages (included at the site root by ``contactboard.urls``)."""

from django.urls import path

from alerts import rule_views, views

urlpatterns = [
    path("alerts/", views.alert_history, name="alerts"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert"),
    path("alerts/rules/", rule_views.rule_list, name="alert-rules"),
    path("alerts/rules/new/", rule_views.rule_edit, name="alert-rule-new"),
    path("alerts/rules/<int:rule_id>/", rule_views.rule_edit, name="alert-rule"),
]
