from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboards"

    def ready(self):
        """Open desk sockets re-check their access when it changes (dashboard.access)."""
        from dashboard import access

        access.connect()
