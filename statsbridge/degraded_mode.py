"""The bridge's degraded mode: polling values by REST while CometD cannot be held.

When to switch is decided by the sans-I/O ``statsbridge.polling.ChannelHealth``; this
module switches, asks the subscription worker to peek every ``POLL_SECONDS`` meanwhile,
and says "polling" only while REST answers.
"""

import asyncio
import logging
import time

from statsbridge import frames, metrics
from statsbridge.conf import bridge_settings
from statsbridge.polling import ChannelHealth

log = logging.getLogger("statsbridge.bridge")  # the bridge's log lines keep one logger name


class PollingSwitch:
    """Streaming or polling, for one bridge (``bridge.link``, ``bridge.worker``, ``bridge.fanout``)."""

    def __init__(self, bridge):
        self._bridge = bridge
        settings = bridge_settings()
        self.health = ChannelHealth(settings.poll_after_failed_connects, settings.poll_after_seconds)
        self.poll_seconds = settings.poll_seconds
        if not self.poll_seconds > 0:
            raise ValueError("BRIDGE_POLL_SECONDS must be a positive number of seconds")
        self.polling = False  # CometD counts as blocked: values are read by REST
        self.polling_since: int | None = None  # when REST first answered while polling (ms)

    async def run(self, stop: asyncio.Event) -> None:
        """Switch to polling when the notification channel stays broken; peek every
        ``POLL_SECONDS`` while polling (see ``statsbridge.polling``)."""
        last_poll = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if not self.polling and self._bridge.link.statistics is not None and self.health.should_poll(now):
                self.enter()
            if self.polling and now - last_poll >= self.poll_seconds:
                last_poll = now
                self._bridge.worker.request_peek()
            await asyncio.sleep(min(0.25, self.poll_seconds))

    def enter(self) -> None:
        """Count CometD as blocked: subscriptions are peeked instead of streamed."""
        self.polling = True
        metrics.polling_entered.inc()
        log.warning(
            "CometD cannot be held (%d failed connects, down %.0f s): polling every %g s until it can",
            self.health.failures, time.monotonic() - (self.health.down_since or time.monotonic()), self.poll_seconds,
        )
        # The status says "polling" once REST has answered (see rest_answered): with the
        # whole network down, values stay stale and the status "reconnecting".
        # Subscriptions of a session that cannot be polled are dropped with it by the
        # service; failing peeks find them lost and re-create them (see subscribing).
        self._bridge.worker.request_peek(reconcile=True)

    def rest_answered(self) -> None:
        """A REST call succeeded: while polling, values are fresh again and the status says so."""
        if self.polling and self.polling_since is None:
            self.polling_since = frames.now_ms()
            log.info("REST answers while CometD cannot be held: values are polled every %g s", self.poll_seconds)
            self._bridge.fanout.set_connection(upstream="polling", poll_seconds=self.poll_seconds)
            # The network may just be back (a cut, a restart): try CometD now rather than
            # after its backoff (up to 30 s). Behind a proxy that blocks it, this costs one
            # more failed attempt each time REST comes back, no more.
            self._bridge.link.retry_now()

    def rest_failed(self) -> None:
        """A REST call failed transiently: while polling, nothing can be fresh any more."""
        if self.polling and self.polling_since is not None:
            self.polling_since = None
            log.warning("REST no longer answers either; values are stale until it or CometD does")
            self._bridge.fanout.set_connection(upstream="reconnecting")
            self._bridge.fanout.mark_all("stale")

    def leave(self) -> None:
        """CometD connected again: stream instead of polling."""
        self.polling = False
        self.polling_since = None
        log.info("CometD connected again: streaming instead of polling")
        self._bridge.fanout.set_connection(upstream="connected")
        # Subscriptions created while polling belong to no CometD session: nobody is
        # notified of them, so they are re-created under the session that streams now.
        self._bridge.worker.request_resubscribe("streaming again")
