from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboards"

    def ready(self):
        """Connect the signals: admin edits reach the bridge and open sockets (dashboard.signals),
        and open desk sockets re-check their access when it changes (dashboard.access)."""
        from dashboard import access, signals, sso_views

        signals.connect()
        access.connect()
        sso_views.connect()  # Genesys sign-in: sign-out at the tenant, a changed mapping re-applied
