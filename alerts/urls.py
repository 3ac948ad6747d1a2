"""The alert pages (included at the site root by ``contactboard.urls``)."""

from django.urls import path

from alerts import views

urlpatterns = [
    path("alerts/", views.alert_history, name="alerts"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert"),
]
