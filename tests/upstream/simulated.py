"""The upstream client against our Genesys simulator: the demo tenant's credentials, the
simulator's control API, and one shared session with each upstream client (``Upstream``)."""

from dataclasses import dataclass

import aiohttp

from statsbridge.upstream.auth import Credentials, TokenProvider
from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.bayeux import BayeuxClient, Message
from statsbridge.upstream.http import create_session
from statsbridge.upstream.statistics import StatisticsClient
from tests.upstream.helpers import Collector

UPDATES = "/statistics/v3/updates"
SERVICE = "/statistics/v3/service"
CONTROL = {"x-simulator-key": "demo-control-key"}
AGENTS = [f"agent{n:03d}" for n in range(1, 25)]


def demo_credentials(url, *, user=True, password="demo-password") -> Credentials:
    """The demo tenant's credentials (the user's too, unless ``user`` is false)."""
    return Credentials(url, "demo-client", "demo-secret", "demo\\supervisor" if user else "",
                       password if user else "")


async def control(simulator, name, body=None, method="POST") -> dict:
    """Call the simulator's control API; it must answer 200."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{simulator.url}/simulator/{name}", json=body, headers=CONTROL) as reply,
    ):
        assert reply.status == 200, f"{name}: HTTP {reply.status}"
        return await reply.json()


def update_items(event: Message) -> list[dict]:
    """The statistics of a StatisticUpdate, wherever the data nests them."""
    data = event.data
    inner = data.get("data", data)
    return inner.get("statistics", [])


@dataclass(frozen=True)
class Subscribed:
    """What ``Upstream.subscribe`` created: one reply per subscription."""

    results: tuple

    @property
    def subscription_ids(self) -> list[str]:
        return [r.data.get("subscriptionId") for r in self.results]

    @property
    def statistics(self) -> list[dict]:
        return [s for r in self.results for s in r.data.get("statistics", [])]

    @property
    def errors(self) -> list:
        return [e for r in self.results for e in r.errors]


class Upstream:
    """One shared session with a token provider, a REST client and a CometD client."""

    def __init__(self, simulator, **credential_args):
        self.session = create_session("demo-api-key")
        self.tokens = TokenProvider(self.session, demo_credentials(simulator.url, **credential_args))
        self.rest = StatisticsClient(self.session, simulator.url, self.tokens, backoff=Backoff(base=0.05, cap=0.3))
        self.cometd = BayeuxClient(self.session, simulator.url + "/statistics/v3/notifications",
                                   channels=[SERVICE, UPDATES], token_provider=self.tokens,
                                   network_allowance=2.0, backoff=Backoff(base=0.05, cap=0.3))
        self.cometd.start()
        self.events = Collector(self.cometd)

    def updated_ids(self) -> set[str]:
        """Subscription ids seen in StatisticUpdate messages so far."""
        return {item.get("subscriptionId") for e in self.events.of(Message) if e.channel == UPDATES
                for item in update_items(e)}

    async def subscribe(self, statistics: list[dict], chunk_size: int = 10) -> Subscribed:
        """Subscribe ``statistics`` as several subscriptions of at most ``chunk_size``, as the bridge does."""
        results = [await self.rest.create_subscription(statistics[i:i + chunk_size])
                   for i in range(0, len(statistics), chunk_size)]
        return Subscribed(tuple(results))

    async def close(self):
        await self.cometd.disconnect()
        await self.session.close()


def agent_states(agents=AGENTS):
    """CurrentAgentState descriptors, ``state-<agent>``, one per agent."""
    return [{"statisticId": f"state-{agent}", "objectId": agent, "objectType": "Agent",
             "name": "CurrentAgentState"} for agent in agents]
