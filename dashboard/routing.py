"""WebSocket routes."""

from django.urls import path

from dashboard import consumers

websocket_urlpatterns: list = [
    path("ws/dashboards/<slug:slug>/", consumers.DashboardConsumer.as_asgi()),
    path("ws/wall/<str:token>/", consumers.WallConsumer.as_asgi()),
]
