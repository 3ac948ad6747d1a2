"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactboard.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from dashboard.routing import websocket_urlpatterns  # noqa: E402
from dashboard.security import SameOriginValidator  # noqa: E402

# No session/auth middleware for sockets: wall sockets authenticate by token, desk
# sockets read their session cookie once when they connect (consumers.socket_user);
# the middleware's layers would hold ~5 KB per idle socket for its whole life.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The Origin's host must be allowed, and the Origin the page's own (scheme, host, port).
        "websocket": AllowedHostsOriginValidator(SameOriginValidator(URLRouter(websocket_urlpatterns))),
    }
)
