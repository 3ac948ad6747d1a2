"""The CometD endpoint /statistics/v3/notifications (every path suffix CometD appends)."""

import logging

from aiohttp import web

from .gateway import gated, plain_fault
from .http_util import BROWSER_COOKIE, SESSION_COOKIE, json_response, read_json, request_cookies
from .tenant import Tenant

logger = logging.getLogger("statsbridge.simulator")
PATH = "/statistics/v3/notifications"


class NotificationsApi:
    """Bayeux over HTTP POST: JSON array in, JSON array out; channel decides, not path."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def routes(self) -> list:
        """``/notifications``, ``/notifications/`` and ``/notifications/<anything>``."""
        return [web.post(PATH + "{suffix:(/.*)?}", self.handle)]

    @gated("notifications", plain_fault)
    async def handle(self, request: web.Request) -> web.Response:
        """Answer one Bayeux request."""
        try:
            body = await read_json(request)
        except ValueError as error:
            logger.info("refused Bayeux request: %s", error)
            return json_response({"message": str(error)}, 400)
        messages = body if isinstance(body, list) else [body]
        cookies = request_cookies(request)
        replies, created = await self.tenant.hub.process(messages, cookies)
        response = json_response(replies)
        if created is not None:
            response.set_cookie(SESSION_COOKIE, created.cookie, path="/", httponly=True)
            if cookies.get(BROWSER_COOKIE) != created.browser_id:
                response.set_cookie(BROWSER_COOKIE, created.browser_id, path="/", httponly=True)
        return response
