"""The bridge's subscription worker: performs what the ``SubscriptionBook`` says is due.

What to create, hold, retry, peek and delete is decided by the sans-I/O
``statsbridge.subscribing.SubscriptionBook``; this worker makes the REST calls, in one
task, so that the event loop that reads CometD never waits on them (a server expires a
client that stops polling). Every action succeeds or fails alone: one failed batch or
peek never stops the others, and is retried alone, with backoff. Creates run
concurrently, at most ``BRIDGE["SUBSCRIPTION_CREATE_WINDOW"]`` in flight (100,000
statistics are 200 round trips: one after another they took longer than the 10 s a
recovery may take); the book is told each outcome as it comes, in any order.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from statsbridge import frames, metrics, store
from statsbridge.conf import bridge_settings
from statsbridge.subscribing import (
    REFUSED,
    TRANSIENT,
    Create,
    Delete,
    Peek,
    classify_call,
    classify_create,
    refusal_messages,
)
from statsbridge.upstream.errors import StatisticsApiError, TransientError, UpstreamError

log = logging.getLogger("statsbridge.bridge")  # the bridge's log lines keep one logger name


class SubscriptionWorker:
    """Runs the book's actions for one bridge (its ``book``, ``link``, ``switch``, ``fanout``)."""

    def __init__(self, bridge, run_sync):
        self._bridge = bridge
        self._run_sync = run_sync
        self.need_resubscribe: str | None = None
        self.need_reconcile = False
        self.need_peek = False
        self._resubscribing: tuple | None = None  # (reason, started, statistics) until every batch is done
        self.last_resubscribe: dict | None = None
        self._work = asyncio.Event()
        self.create_window = bridge_settings().subscription_create_window

    # ------------------------------------------------------------ requests (never block)

    def request_resubscribe(self, reason: str) -> None:
        """Re-create every subscription (new session, service AVAILABLE, operator)."""
        self.need_resubscribe = reason
        self._work.set()

    def request_reconcile(self) -> None:
        """Re-apply the wanted set upstream (after routes changed)."""
        self.need_reconcile = True
        self._work.set()

    def request_peek(self, *, reconcile: bool = False) -> None:
        """Read the current value of every held statistic (and re-apply the wanted set when ``reconcile``)."""
        self.need_peek = True
        if reconcile:
            self.need_reconcile = True
        self._work.set()

    # ------------------------------------------------------------ the worker

    async def run(self, stop: asyncio.Event) -> None:
        """Run what the subscription book says is due; sleep until the next retry or request."""
        book = self._bridge.book
        while not stop.is_set():
            delay = book.next_due(time.monotonic()) if self._can_subscribe() else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), delay)
            self._work.clear()
            if self._can_subscribe():
                await self._do_work()

    def _can_subscribe(self) -> bool:
        bridge = self._bridge
        if bridge.link.statistics is None or bridge.service == "UNAVAILABLE":
            return False
        # While polling, subscriptions are created without a CometD session and peeked.
        return bridge.link.session_up or bridge.switch.polling

    async def _do_work(self) -> None:
        book = self._bridge.book
        wanted = self._bridge.fanout.routes.wanted
        if self.need_resubscribe:
            reason, self.need_resubscribe = self.need_resubscribe, None
            book.start_over()
            self._resubscribing = (reason, time.monotonic(), len(wanted))
            self.need_reconcile = True
        if self.need_reconcile:
            self.need_reconcile = False
            book.want(wanted)
        if self.need_peek:
            self.need_peek = False
            book.request_peek(now=time.monotonic())
        actions = book.actions(time.monotonic())
        if not actions:
            return
        deletes = [a for a in actions if isinstance(a, Delete)]
        for action in deletes:
            await self._bridge.link.delete_subscriptions(list(action.subscription_ids))
        creates = [a for a in actions if isinstance(a, Create)]
        await run_window(creates, self._create_current, self.create_window)
        peeks = [a for a in actions if isinstance(a, Peek)]
        if peeks:
            await asyncio.gather(*(self._peek(action) for action in peeks))
        await self._run_sync(store.write_subscription_ids, book.all_ids())
        update_gauges(book.held)
        self._finish_resubscribe()
        if creates:
            log.info("subscriptions: %d held (%d statistics), %d refused, %d statistics being retried",
                     len(book.held), len(book.held_keys()), len(book.refused), len(book.retrying()))

    def _finish_resubscribe(self) -> None:
        book = self._bridge.book
        if self._resubscribing is None or book.busy:
            return
        reason, started, count = self._resubscribing
        self._resubscribing = None
        elapsed = time.monotonic() - started
        self.last_resubscribe = {"reason": reason, "statistics": count, "seconds": round(elapsed, 3), "at": frames.now_ms()}
        metrics.resubscribes.labels(reason=reason).inc()
        metrics.resubscribe_seconds.observe(elapsed)
        log.info(
            "resubscribed (%s): %d statistics in %d subscriptions, %d refused, %.2f s",
            reason, count, len(book.held), len(book.refused), elapsed,
        )

    async def _create_current(self, action: Create) -> None:
        # A create still queued behind the window when its plan was dropped (UNAVAILABLE,
        # new session) is never sent: it would only be refused or deleted again.
        if self._bridge.book.is_current(action):
            await self._create(action)

    async def _create(self, action: Create) -> None:
        """``POST /subscriptions`` for one batch; its outcome goes to the book, values to dashboards."""
        bridge = self._bridge
        received = frames.now_ms()
        wanted = bridge.fanout.routes.wanted
        descriptors = [wanted[k].descriptor for k in action.keys if k in wanted]
        try:
            if not descriptors:
                raise StatisticsApiError(code=None, message="no longer wanted", path="", http_status=400)
            result = await bridge.link.statistics.create_subscription(descriptors, operation_id=action.operation_id,
                                                                      attempts=1)
        except (UpstreamError, OSError) as error:
            bridge.note_config_error(error)
            kind = classify_create(getattr(error, "http_status", None), transient(error))
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            metrics.subscription_creates.labels(outcome=kind).inc()
            bridge.book.create_failed(action, kind, message, time.monotonic())
            if kind == TRANSIENT:
                bridge.switch.rest_failed()
            if kind == REFUSED:
                log.warning("upstream refused a whole batch of %d statistics: %s", len(action.keys), message)
            else:
                bridge.note_error(f"creating a subscription failed ({message}); retrying that batch alone")
            return
        metrics.subscription_creates.labels(outcome="partial" if result.partial else "ok").inc()
        bridge.switch.rest_answered()
        returned = [s for s in result.data.get("statistics", []) if isinstance(s, dict)]
        by_key, general = refusal_messages(action.keys, result.errors)
        outcome = bridge.book.created(action, returned, by_key, result.partial, general)
        if outcome.refused:
            first = next(iter(outcome.refused))
            log.warning("upstream refused %d statistics, e.g. %s: %s", len(outcome.refused), first, outcome.refused[first])
        if outcome.held and bridge.service == "UNKNOWN":
            # The service accepted subscriptions, so it is available (it only
            # announces changes, never its state at connect time).
            bridge.service = "AVAILABLE"
            bridge.fanout.set_connection(service="AVAILABLE")
        held = set(outcome.held)
        for item in returned:
            if "value" in item and item.get("statisticId") in held:
                bridge.offer_fetched(item, received)

    async def _peek(self, action: Peek) -> None:
        bridge = self._bridge
        received = frames.now_ms()
        try:
            result = await bridge.link.statistics.get_subscription_values(action.subscription_id, action.keys)
        except (UpstreamError, OSError) as error:
            bridge.note_config_error(error)
            kind = classify_call(transient(error))
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            if kind == TRANSIENT:
                bridge.switch.rest_failed()
            if bridge.book.peek_failed(action, kind, time.monotonic()):
                metrics.subscription_lost.inc()
                log.warning("subscription %s counts as lost (%s); creating its statistics again",
                            action.subscription_id, message)
            else:
                bridge.note_error(f"peek of {action.subscription_id} failed ({message}); retrying")
            if bridge.switch.polling:
                self._mark_stale(action.keys)
            return
        bridge.switch.rest_answered()
        items = [i for i in result.data.get("statistics", []) if isinstance(i, dict) and isinstance(i.get("statisticId"), str)]
        missing = bridge.book.peeked(action, [i["statisticId"] for i in items], result.partial)
        if missing:
            log.warning("%d statistics are no longer in subscription %s; creating them again",
                        len(missing), action.subscription_id)
        for item in items:
            if "value" in item:
                bridge.offer_fetched(item, received)

    def _mark_stale(self, keys) -> None:
        fanout = self._bridge.fanout
        for key in keys:
            current = fanout.latest.get(key)
            if current is not None and current["state"] == "fresh":
                fanout.offer(key, frames.with_state(current, "stale"))


async def run_window(items: Iterable, run: Callable[[object], Awaitable[None]], window: int) -> None:
    """Await ``run(item)`` for every item, at most ``window`` at once, in order of start.

    ``run`` must handle its own failures (the book is told each outcome); an exception
    escaping it is a bug and cancels nothing else before being raised.
    """
    pending = list(items)
    if not pending:
        return
    queue = iter(pending)

    async def lane() -> None:
        for item in queue:  # the shared iterator hands each item to exactly one lane
            await run(item)

    lanes = [asyncio.create_task(lane()) for _ in range(max(1, min(window, len(pending))))]
    results = await asyncio.gather(*lanes, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def update_gauges(held: dict) -> None:
    """Export how many subscriptions and statistics are held upstream."""
    metrics.subscriptions_held.set(len(held))
    metrics.statistics_held.set(sum(len(k) for k in held.values()))


def transient(error: BaseException) -> bool:
    """Whether a failed call may pass by itself (network, 502/503/504)."""
    return isinstance(error, (TransientError, OSError))
