"""A small HTTP client for the simulator tests, and condition waiting with deadlines."""

import base64
import time
import uuid

import aiohttp

from tests.waiting import eventually as wait_until  # noqa: F401  (the simulator tests' name)

API_KEY = "demo-api-key"
CONTROL = {"x-simulator-key": "demo-control-key"}
BASIC = "Basic " + base64.b64encode(b"demo-client:demo-secret").decode()
NOTIFICATIONS = "/statistics/v3/notifications"
QUEUE = "VQ_Sales@SIP_Switch"
GROUP = "Sales"
AGENT = "agent001"


class Client:
    """A tenant client sharing one cookie jar between REST and CometD, like the official ones."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.token = None
        self.client_id = None
        self._ids = 0

    async def close(self) -> None:
        await self.http.close()

    # -- auth ------------------------------------------------------------------

    async def grant(self, **form) -> aiohttp.ClientResponse:
        return await self.http.post(self.url + "/auth/v3/oauth/token", data=form,
                                    headers={"x-api-key": API_KEY, "Authorization": BASIC})

    async def login(self) -> str:
        response = await self.grant(grant_type="password", username="demo\\supervisor",
                                    password="demo-password", client_id="demo-client", scope="*")
        assert response.status == 200, await response.text()
        self.token = (await response.json())["access_token"]
        return self.token

    def headers(self, **extra) -> dict:
        return {"x-api-key": API_KEY, "Authorization": f"Bearer {self.token}", **extra}

    # -- statistics ----------------------------------------------------------

    async def request(self, method: str, path: str, **kwargs) -> aiohttp.ClientResponse:
        headers = kwargs.pop("headers", None) or self.headers()
        return await self.http.request(method, self.url + path, headers=headers, **kwargs)

    async def subscribe_statistics(self, statistics: list, operation_id: str | None = None, verbose: str = "INFO"):
        operation_id = operation_id or str(uuid.uuid4())
        response = await self.request("POST", f"/statistics/v3/subscriptions?verbose={verbose}",
                                      json={"operationId": operation_id, "data": {"statistics": statistics}})
        return response.status, await response.json()

    # -- bayeux ----------------------------------------------------------------

    def next_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    async def bayeux(self, messages, suffix: str = "", **kwargs) -> tuple[int, list]:
        response = await self.http.post(self.url + NOTIFICATIONS + suffix, json=messages,
                                        headers=kwargs.pop("headers", None) or self.headers(), **kwargs)
        body = await response.json(content_type=None)
        return response.status, body

    async def handshake(self) -> dict:
        status, replies = await self.bayeux([{
            "channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
            "supportedConnectionTypes": ["long-polling", "callback-polling"],
            "advice": {"timeout": 60000, "interval": 0}, "id": self.next_id()}], "/handshake")
        assert status == 200 and replies[0]["successful"], replies
        self.client_id = replies[0]["clientId"]
        return replies[0]

    async def connect(self, first: bool = False) -> list:
        message = {"channel": "/meta/connect", "clientId": self.client_id, "connectionType": "long-polling",
                   "id": self.next_id()}
        if first:
            message["advice"] = {"timeout": 0}
        status, replies = await self.bayeux([message], "/connect")
        assert status == 200, replies
        return replies

    async def meta_subscribe(self, channel: str) -> dict:
        status, replies = await self.bayeux([{"channel": "/meta/subscribe", "clientId": self.client_id,
                                              "subscription": channel, "id": self.next_id()}], "/subscribe")
        assert status == 200
        return replies[0]

    async def start_session(self, channels=("/statistics/v3/service", "/statistics/v3/updates")) -> None:
        """Handshake, first connect, and subscribe the channels, like the official JS client."""
        await self.handshake()
        await self.connect(first=True)
        for channel in channels:
            assert (await self.meta_subscribe(channel))["successful"]

    async def collect(self, predicate, timeout: float = 5.0) -> list:
        """Keep connecting until the data messages gathered satisfy ``predicate``; returns them."""
        gathered: list = []
        deadline = time.monotonic() + timeout
        while not predicate(gathered):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s; got {gathered[-3:]}")
            replies = await self.connect()
            gathered.extend(r for r in replies if not r["channel"].startswith("/meta/"))
        return gathered


def updates_in(messages: list) -> list:
    """Every statistic item carried by StatisticUpdate messages (either nesting)."""
    items = []
    for message in messages:
        if message["channel"] != "/statistics/v3/updates":
            continue
        data = message["data"]
        items.extend(data["data"]["statistics"] if "data" in data else data["statistics"])
    return items


async def control(client: Client, method: str, path: str, body=None):
    response = await client.http.request(method, client.url + "/simulator/" + path, json=body, headers=CONTROL)
    return response.status, await response.json()
