"""Which request bodies may be large: the dashboard import page's, from an active staff session.

The served daphne refuses a body over its limit before reading it (``statsbridge.bodies``);
``body_limits`` (named by ``settings.REQUEST_BODY_LIMITS_SOURCE``) gives it the limits
of ``settings.REQUEST_BODY_LIMITS`` and says which page and which sessions get the larger one.
"""

from django.conf import settings
from django.urls import reverse

from dashboard.consumers import socket_user
from statsbridge.bodies import BodyLimits


def staff_session(cookie_header: bytes | None) -> bool:
    """Whether a ``Cookie`` header carries the session of an active staff user (sync: DB)."""
    headers = [(b"cookie", cookie_header)] if cookie_header else []
    user = socket_user({"headers": headers})
    return bool(user.is_active and user.is_staff)


def body_limits() -> BodyLimits:
    """``REQUEST_BODY_LIMITS``: ``DEFAULT`` anywhere, ``IMPORT`` on the import page for staff."""
    configured = settings.REQUEST_BODY_LIMITS
    return BodyLimits(default=configured["DEFAULT"], import_=configured["IMPORT"],
                      import_path=reverse("admin:dashboard_dashboard_import"), is_staff=staff_session)
