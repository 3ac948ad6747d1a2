"""The alert engine: runs in the active bridge as an observer (``settings.BRIDGE_OBSERVERS``).

On every observation (each quarter second: see ``statsbridge.observers``) it judges every
enabled rule on every dashboard it belongs to (``evaluate``, pure), persists what changed
(``alerts.state``) and then sends the notifications queued with the change
(``alerts.delivery``). Alert state lives in the database, so a bridge that takes over
carries on where its predecessor stopped and never notifies the same firing twice;
notifications are queued with the change in one transaction and sent after it commits,
so one left unsent by a bridge that died is sent by its successor.
"""

import asyncio
import logging
import math
import time

import aiohttp

from alerts import delivery, evaluator, state
from alerts.models import Rule, Target
from alerts.specs import DATA, RuleSpec, load_specs

log = logging.getLogger(__name__)


def _dashboard_keys(routes) -> dict[int, list[str]]:
    keys: dict[int, list[str]] = {}
    for key, dashboard_ids in routes.dashboards_by_key.items():
        for dashboard_id in dashboard_ids:
            keys.setdefault(dashboard_id, []).append(key)
    return keys


def stale_reason(observation, values: list) -> str:
    """Why a dashboard's data counts as stale, in words."""
    connection = observation.connection
    if connection.get("service") == "UNAVAILABLE":
        return "statistics service UNAVAILABLE"
    if not observation.live:
        return f"upstream {connection.get('upstream')}"
    stale = sum(1 for value in values if value is not None and value.get("state") == "stale")
    return f"{stale} statistic{'s' if stale != 1 else ''} stale"


def evaluate(specs: list[RuleSpec], tracks: dict, observation) -> list[dict]:
    """Pure: the changes of every rule's alerts under ``observation`` (see ``state.apply``).

    ``tracks``: ``{(rule id, dashboard id, subject): (Track, alert id)}`` as they stand.
    """
    changes = []
    keys_by_dashboard = _dashboard_keys(observation.routes)
    now = observation.now
    for spec in specs:
        for board in spec.boards:
            subjects = [(DATA, None)] if spec.kind == Rule.STALE else [(watch.key, watch) for watch in board.watches]
            for subject, watch in subjects:
                before, alert_id = tracks.get((spec.id, board.id, subject), (evaluator.Track(), None))
                if watch is None:
                    values = [observation.values.get(k) for k in keys_by_dashboard.get(board.id, ())]
                    holds = evaluator.is_stale(values, observation.live)
                    label, number = "data", None
                    seconds = spec.for_ms / 1000
                    text = (f"Data on {board.title} stale for more than {seconds:g} s: {stale_reason(observation, values)}"
                            if holds else f"Data on {board.title} is fresh again")
                elif spec.kind == Rule.AGENT_STATE:
                    value = observation.values.get(subject)
                    holds = evaluator.in_state_too_long(value, spec.agent_state, spec.agent_reason, now, spec.for_ms)
                    label, number = watch.label, None
                    state_words = spec.agent_state + (f" ({spec.agent_reason})" if spec.agent_reason else "")
                    text = (f"{watch.label} {state_words} for more than {spec.for_ms / 60_000:g} min" if holds
                            else f"{watch.label} is no longer {state_words}")
                else:
                    value = observation.values.get(subject)
                    holds = evaluator.breaches(value, watch.limit, watch.direction, watch.hysteresis,
                                               holding=before.state != evaluator.OK)
                    label, number = watch.label, evaluator.number_of(value)
                    shown = value.get("text") if value else "unknown"
                    text = (f"{watch.label} is {shown} ({watch.direction} {watch.limit:g})" if holds
                            else f"{watch.label} is back at {shown}")
                # An agent's own "since" already timed its state.
                after, event = evaluator.step(before, holds, now, 0 if spec.kind == Rule.AGENT_STATE else spec.for_ms)
                if after == before and event is None:
                    continue
                changes.append({"rule": spec.id, "dashboard": board.id, "subject": subject, "alert": alert_id,
                                "before": before, "after": after, "event": event, "label": label,
                                "value": number, "text": text, "targets": spec.target_ids, "now": now})
    return changes


class AlertEngine:
    """Judges the rules on what the bridge publishes and notifies their targets."""

    def __init__(self, run_sync, *, reload_seconds: float = 2.0, outbox_seconds: float = 1.0,
                 monotonic=time.monotonic):
        self._run_sync = run_sync
        self._reload_seconds = reload_seconds
        self._outbox_seconds = outbox_seconds
        self._monotonic = monotonic
        self._specs: list[RuleSpec] = []
        self._tracks: dict | None = None
        self._loaded_at = -math.inf
        self._outbox_at = -math.inf
        self._session: aiohttp.ClientSession | None = None
        self._sending: dict[int, asyncio.Task] = {}
        self._shown: dict[int, list] | None = None  # dashboard id → the alerts its screens show

    async def observe(self, observation) -> None:
        """Judge every rule on ``observation``, persist the changes and send what they queued."""
        run_sync = self._run_sync
        if self._tracks is None:
            self._tracks = await run_sync(state.open_tracks)
        reload = self._monotonic() - self._loaded_at >= self._reload_seconds
        if reload:
            self._specs = await run_sync(load_specs)
            self._loaded_at = self._monotonic()
            rule_ids = {spec.id for spec in self._specs}
            if any(rule not in rule_ids for rule, _, _ in self._tracks):
                await run_sync(state.resolve_orphans, rule_ids)
                self._tracks = {k: v for k, v in self._tracks.items() if k[0] in rule_ids}
        queued = changed = False
        for change in evaluate(self._specs, self._tracks, observation):
            alert_id, deliveries = await run_sync(state.apply, change)
            where = (change["rule"], change["dashboard"], change["subject"])
            if alert_id is None:
                self._tracks.pop(where, None)
            else:
                self._tracks[where] = (change["after"], alert_id)
            if change["event"]:
                log.info("alert %s: %s", change["event"], change["text"])
            queued = queued or bool(deliveries)
            changed = True
        if reload and await run_sync(state.escalate, observation.now):
            queued = True
        if (changed or reload) and observation.publisher is not None:
            await self._show(observation)
        if queued or self._monotonic() - self._outbox_at >= self._outbox_seconds:
            self._outbox_at = self._monotonic()
            for delivery_id in await run_sync(state.pending_deliveries):
                if delivery_id not in self._sending:
                    self._sending[delivery_id] = asyncio.create_task(self._deliver(delivery_id),
                                                                     name=f"alert delivery {delivery_id}")

    async def _show(self, observation) -> None:
        """Put each dashboard's open alerts on its screens, when they differ from what they show
        (acknowledgements made in web processes show within ``reload_seconds``)."""
        shown = await self._run_sync(state.on_screen)
        previous = self._shown
        if previous is None:  # a new bridge: whatever its predecessor left stored is replaced
            previous = dict.fromkeys(observation.routes.slugs, None)
        self._shown = {}
        for dashboard_id in sorted(set(previous) | set(shown)):
            items = shown.get(dashboard_id, [])
            if items != previous.get(dashboard_id) and not await observation.publisher.publish_alerts(dashboard_id, items):
                continue  # not routed: nobody shows it
            self._shown[dashboard_id] = items

    async def _deliver(self, delivery_id: int) -> None:
        try:
            loaded = await self._run_sync(delivery.load, delivery_id)
            if loaded is None:
                return
            target, payload = loaded
            attempt = target["done"]
            while True:
                attempt += 1
                try:
                    if target["kind"] == Target.WEBHOOK:
                        if self._session is None:
                            self._session = aiohttp.ClientSession()
                        await delivery.post_webhook(self._session, target, payload)
                    else:
                        await asyncio.to_thread(delivery.send_email, target, payload)
                except delivery.DeliveryFailed as error:
                    final = attempt >= target["attempts"]
                    await self._run_sync(delivery.record, delivery_id, str(error), final=final)
                    if final:
                        log.warning("alert notification %d to %r failed after %d attempts: %s",
                                    delivery_id, target["name"], attempt, error)
                        return
                    await asyncio.sleep(delivery.backoff_seconds(attempt))
                    continue
                await self._run_sync(delivery.record, delivery_id, None, final=True)
                return
        except Exception:
            log.exception("alert notification %d could not be processed", delivery_id)
        finally:
            self._sending.pop(delivery_id, None)

    @property
    def sending(self) -> int:
        """How many notifications are being sent (or waiting to be retried) now."""
        return len(self._sending)

    async def close(self) -> None:
        """Stop sending (what is left is sent by the next active bridge) and close the HTTP session."""
        tasks = list(self._sending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
