"""The bridge's upstream link: one HTTP session, token provider and REST client for the
bridge's whole life, and the CometD client, started again with backoff after a fatal stop."""

import asyncio
import contextlib
import logging

from statsbridge import metrics
from statsbridge.notifications import SERVICE_CHANNEL, UPDATES_CHANNEL
from statsbridge.upstream.auth import Credentials, TokenProvider
from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.bayeux.client import BayeuxClient
from statsbridge.upstream.errors import UpstreamError
from statsbridge.upstream.http import create_session
from statsbridge.upstream.statistics import StatisticsClient

log = logging.getLogger("statsbridge.bridge")  # the bridge's log lines keep one logger name

NOTIFICATIONS_PATH = "/statistics/v3/notifications"


class UpstreamLink:
    """Tokens, Statistics REST and CometD of one bridge; ``session_up`` while a CometD session is."""

    def __init__(self, genesys: dict):
        self._genesys = genesys
        self.session = self.tokens = self.statistics = self.bayeux = None
        self.session_up = False

    def open(self) -> None:
        """One HTTP session, token provider and REST client for the bridge's whole life."""
        genesys = self._genesys
        self.session = create_session(genesys["API_KEY"])
        self.tokens = TokenProvider(self.session, Credentials.from_settings(genesys))
        self.statistics = StatisticsClient(self.session, genesys["API_URL"], self.tokens)
        metrics.bayeux_client.source = self.client_stats

    def client_stats(self):
        """The current CometD client's ``ClientStats`` (for /metrics), or None while there is none."""
        bayeux = self.bayeux
        return bayeux.stats if bayeux is not None else None

    def _new_bayeux(self) -> BayeuxClient:
        return BayeuxClient(
            self.session,
            self._genesys["API_URL"].rstrip("/") + NOTIFICATIONS_PATH,
            channels=[SERVICE_CHANNEL, UPDATES_CHANNEL],
            token_provider=self.tokens,
        )

    async def close(self) -> None:
        """Disconnect CometD and close the HTTP session."""
        bayeux, session = self.bayeux, self.session
        self.bayeux = self.session = None
        if metrics.bayeux_client.source == self.client_stats:
            metrics.bayeux_client.source = None
        if bayeux is not None:
            await bayeux.disconnect()
        if session is not None:
            await session.close()
        self.session_up = False

    def retry_now(self) -> None:
        """Try to connect CometD now rather than after its backoff."""
        if self.bayeux is not None:
            self.bayeux.retry_now()

    async def run(self, stop: asyncio.Event, handle, config_error) -> None:
        """Run the CometD client, giving each of its events to ``handle``; after a fatal
        stop, start a new one with backoff. ``config_error()``: the refusal in force, if any."""
        backoff = Backoff(base=1.0, cap=60.0)
        failures = 0
        while not stop.is_set():
            self.bayeux = self._new_bayeux()
            self.bayeux.start()
            async for event in self.bayeux.events():
                try:
                    handle(event)
                except Exception:  # One bad message must not stop the link.
                    log.exception("could not handle %s", type(event).__name__)
                if self.session_up:
                    failures = 0
            await self.bayeux.disconnect()
            self.session_up = False
            failures += 1
            delay = backoff.delay(failures)
            # A refused login stops every new link the same way: say it once, not every minute.
            level = logging.DEBUG if failures > 1 and config_error() else logging.WARNING
            log.log(level, "upstream link stopped; starting a new one in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def delete_subscriptions(self, ids: list[str], timeout: float = 10.0) -> int:
        """Delete subscriptions in parallel, within ``timeout`` overall; return how many went."""

        async def delete(subscription_id: str) -> bool:
            try:
                await self.statistics.delete_subscription(subscription_id)
                return True
            except (UpstreamError, OSError) as error:
                log.warning("could not delete subscription %s: %s", subscription_id, type(error).__name__)
                return False

        tasks = [asyncio.create_task(delete(i)) for i in ids]
        done, pending = await asyncio.wait(tasks, timeout=timeout) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d subscription deletions did not finish within %.0f s", len(pending), timeout)
        return sum(1 for task in done if task.result())
