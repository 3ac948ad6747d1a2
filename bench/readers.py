"""Benchmark peers that read the simulator's updates: a bare long-poll reader and aiocometd-noloop.

``python -m bench.readers bare|aiocometd --api URL --stats FILE --report FILE``

Both log in, open one statistic subscription for the statistics in ``FILE`` (a JSON
list of descriptors), then read ``/statistics/v3/updates`` and count the statistic
items they parse. Every ``REPORT_INTERVAL`` seconds they rewrite ``--report`` with
``{"ready": bool, "updates": n, "messages": n}``. The bare reader is the limit of
the ingest benchmark: it does nothing but HTTP long-polling and ``json.loads``.
"""

import argparse
import asyncio
import base64
import json
import os
import signal
import time
from pathlib import Path

import aiohttp

REPORT_INTERVAL = 0.1
UPDATES = "/statistics/v3/updates"
SERVICE = "/statistics/v3/service"
NOTIFICATIONS = "/statistics/v3/notifications"


def statistic_items(message: dict) -> list:
    """The statistic items of a StatisticUpdate message (``data.statistics`` or ``data.data.statistics``)."""
    data = message.get("data")
    if not isinstance(data, dict):
        return []
    items = data.get("statistics")
    if items is None and isinstance(data.get("data"), dict):
        items = data["data"].get("statistics")
    return items if isinstance(items, list) else []


class Counter:
    """Updates and messages read so far, written to the report file."""

    def __init__(self, path: Path):
        self.path = path
        self.ready = False
        self.updates = 0
        self.messages = 0

    def count(self, message: dict) -> None:
        """Count one Bayeux data message from the updates channel."""
        if message.get("channel") == UPDATES:
            self.messages += 1
            self.updates += len(statistic_items(message))

    def write(self) -> None:
        """Atomically rewrite the report file."""
        temp = self.path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(json.dumps({"ready": self.ready, "updates": self.updates, "messages": self.messages,
                                    "at": time.time()}))
        os.replace(temp, self.path)

    async def report_forever(self) -> None:
        """Rewrite the report every ``REPORT_INTERVAL`` seconds."""
        while True:
            self.write()
            await asyncio.sleep(REPORT_INTERVAL)


async def get_token(session: aiohttp.ClientSession, api: str, credentials: dict) -> str:
    """An access token from the Authentication API (password grant when a username is given)."""
    basic = base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode()).decode()
    if credentials.get("username"):
        form = {"grant_type": "password", "username": credentials["username"],
                "password": credentials["password"], "client_id": credentials["client_id"], "scope": "*"}
    else:
        form = {"grant_type": "client_credentials", "scope": "*"}
    async with session.post(f"{api}/auth/v3/oauth/token", data=form,
                            headers={"Authorization": f"Basic {basic}"}) as response:
        body = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"token request failed with HTTP {response.status}")
        return body["access_token"]


async def subscribe_statistics(session: aiohttp.ClientSession, api: str, token: str, statistics: list) -> None:
    """Open one statistic subscription holding ``statistics``."""
    body = {"operationId": f"bench-{os.getpid()}", "data": {"statistics": statistics}}
    async with session.post(f"{api}/statistics/v3/subscriptions?verbose=OFF", json=body,
                            headers={"Authorization": f"Bearer {token}"}) as response:
        reply = await response.json(content_type=None)
        if response.status != 200 or reply.get("status", {}).get("code") not in (0, 1, 2):
            raise RuntimeError(f"subscription failed with HTTP {response.status}: {reply.get('status')}")


async def run_bare(api: str, statistics: list, counter: Counter, credentials: dict) -> None:
    """The limit: long-poll /meta/connect and parse the JSON, nothing else."""
    url = api + NOTIFICATIONS
    headers = {"x-api-key": credentials["api_key"]}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=90),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        token = await get_token(session, api, credentials)
        auth = {"Authorization": f"Bearer {token}"}

        async def exchange(messages: list) -> list:
            headers = {**auth, "Content-Type": "application/json"}
            async with session.post(url, data=json.dumps(messages), headers=headers) as response:
                return json.loads(await response.read())

        reply = await exchange([{"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
                                 "supportedConnectionTypes": ["long-polling"], "id": "1"}])
        client_id = reply[0]["clientId"]
        connect = {"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling"}
        await exchange([{**connect, "id": "2", "advice": {"timeout": 0}}])
        await exchange([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": channel, "id": str(i)}
                        for i, channel in enumerate((SERVICE, UPDATES), start=3)])
        await subscribe_statistics(session, api, token, statistics)
        counter.ready = True
        while True:
            for message in await exchange([connect]):
                counter.count(message)


class _Headers:
    """aiocometd extension adding the Genesys headers to every CometD request."""

    def __init__(self, headers: dict):
        self.headers = headers

    async def outgoing(self, payload, headers) -> None:
        """Add the API key and bearer token."""
        headers.update(self.headers)

    async def incoming(self, payload, headers=None) -> None:
        """Nothing to do on the way in."""


async def run_aiocometd(api: str, statistics: list, counter: Counter, credentials: dict) -> None:
    """The peer: the aiocometd-noloop client, long-polling, same server and statistics.

    aiocometd keeps cookies in aiohttp's default jar, which ignores cookies from IP
    addresses, and the REST subscription is tied to the CometD session by a cookie:
    so this peer addresses the simulator as ``localhost``, as a user would a host name.
    """
    from aiocometd_noloop import Client, ConnectionType
    from aiocometd_noloop.extensions import Extension

    api = api.replace("://127.0.0.1:", "://localhost:")
    Extension.register(_Headers)  # aiocometd accepts any registered Extension subclass.
    headers = {"x-api-key": credentials["api_key"]}
    async with aiohttp.ClientSession(headers=headers) as rest:
        token = await get_token(rest, api, credentials)
        client = Client(api + NOTIFICATIONS, ConnectionType.LONG_POLLING, max_pending_count=0,
                        extensions=[_Headers({**headers, "Authorization": f"Bearer {token}"})])
        async with client:
            await client.subscribe(SERVICE)
            await client.subscribe(UPDATES)
            # The REST subscription is tied to the CometD session by its cookie: share it.
            rest.cookie_jar.update_cookies(client._http_session.cookie_jar.filter_cookies(api))
            await subscribe_statistics(rest, api, token, statistics)
            counter.ready = True
            async for message in client:
                counter.count(message)


async def main_async(args) -> None:
    """Run one reader until SIGTERM."""
    statistics = json.loads(await asyncio.to_thread(Path(args.stats).read_text))
    credentials = json.loads(os.environ["BENCH_CREDENTIALS"])
    counter = Counter(Path(args.report))
    reporter = asyncio.create_task(counter.report_forever())
    reader = {"bare": run_bare, "aiocometd": run_aiocometd}[args.kind]
    task = asyncio.create_task(reader(args.api.rstrip("/"), statistics, counter, credentials))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        reporter.cancel()
        counter.write()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["bare", "aiocometd"])
    parser.add_argument("--api", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--report", required=True)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
