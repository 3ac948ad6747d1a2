"""A scripted HTTP server on 127.0.0.1 for unit tests of the upstream clients.

Each test queues the replies a route must give (status, JSON or text body, headers)
and reads back the requests it received. It is a real aiohttp server: the clients
under test exercise their real HTTP, cookie and timeout code.
"""

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    cookies: dict
    arrived: float  # time.monotonic() when the request arrived

    def json(self):
        """The body decoded as JSON."""
        return json.loads(self.body)

    def form(self) -> dict:
        """The body decoded as a form."""
        return dict(parse_qsl(self.body.decode()))


@dataclass
class Scripted:
    """A canned reply; ``delay`` seconds before answering; ``hang`` never answers."""

    status: int = 200
    json: object = None
    text: str | None = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False


class ScriptedServer:
    """Routes ``(method, path)`` to queued replies; unqueued routes use a default handler."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self.queues: dict = defaultdict(deque)
        self.defaults: dict = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.active = 0  # requests being answered now
        self.max_active = 0

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def queue(self, method: str, path: str, *replies: Scripted) -> None:
        """Queue replies for a route, used in order."""
        self.queues[(method, path)].extend(replies)

    def default(self, method: str, path: str, handler) -> None:
        """``handler(recorded) -> Scripted`` answers when the route's queue is empty."""
        self.defaults[(method, path)] = handler

    def received(self, method: str, path: str) -> list[Recorded]:
        """The requests received on a route."""
        return [r for r in self.requests if r.method == method and r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            return await self._answer(request)
        finally:
            self.active -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded = Recorded(request.method, request.path, dict(request.query), dict(request.headers), body,
                            dict(request.cookies), time.monotonic())
        self.requests.append(recorded)
        key = (request.method, request.path)
        if self.queues[key]:
            reply = self.queues[key].popleft()
        elif key in self.defaults:
            reply = self.defaults[key](recorded)
        else:
            reply = Scripted(status=404, json={"message": "no script"})
        if reply.hang:
            await asyncio.Event().wait()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.text is not None:
            return web.Response(status=reply.status, text=reply.text, headers=reply.headers,
                                content_type="text/html")
        return web.json_response(reply.json, status=reply.status, headers=reply.headers)

    async def start(self) -> "ScriptedServer":
        """Listen on a free port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
