"""A real HTTP webhook receiver on 127.0.0.1 (aiohttp), checking every request's signature."""

import hashlib
import hmac
import json

from aiohttp import web


class Receiver:
    """Records every POST (parsed body, whether its X-Signature matched) and answers with
    the statuses queued in ``answers`` (then 200), or a body of garbage when asked."""

    def __init__(self, secret: str):
        self.secret = secret
        self.received: list[dict] = []
        self.signed: list[bool] = []
        self.answers: list[int] = []
        self.garbage = False
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        self.signed.append(hmac.compare_digest(request.headers.get("X-Signature", ""), expected))
        self.received.append(json.loads(body))
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status, body=b"\x00\xffnot json" if self.garbage else b"ok")

    async def start(self) -> "Receiver":
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    def states(self) -> list[str]:
        """The ``state`` of every notification received, in order."""
        return [each["state"] for each in self.received]
