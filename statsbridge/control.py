"""Telling live parts of the system that something changed (callable from any process).

Operators: ``request_resubscribe`` makes the active bridge re-create every
subscription, ``request_peek`` re-read every value; ``peek_statistic`` asks the
service for one statistic's value right now (get-statistic-ex).
Walls: ``display_changed`` makes every open socket of a display re-check its token
(closing when revoked or re-issued) and follow its playlist; ``reload_display``
sends the wall a ``reload`` frame. The bridge: ``config_changed`` makes it re-read
the wanted statistics within ``CONFIG_POLL_SECONDS``. The model signals of the app that
shows the statistics (``dashboard.signals``) call these after every commit, so admin
edits need nothing more; call them yourself after bulk ``update()``s, which send no
signals.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from statsbridge import frames, store
from statsbridge.decoding import Decoding, hint_for
from statsbridge.fanout import CONTROL_GROUP, dashboard_group, display_group
from statsbridge.upstream.auth import Credentials, TokenProvider
from statsbridge.upstream.http import create_session
from statsbridge.upstream.statistics import StatisticsClient


async def display_changed_async(display_id: int) -> None:
    """Make open wall sockets of a display re-check their token and playlist."""
    await get_channel_layer().group_send(display_group(display_id), {"type": "display.changed"})


async def reload_display_async(display_id: int, reason: str = "requested by an administrator") -> None:
    """Send every open wall socket of a display a ``reload`` frame."""
    await get_channel_layer().group_send(display_group(display_id), {"type": "display.reload", "reason": reason})


def display_changed(display_id: int) -> None:
    """Synchronous ``display_changed_async`` (for views, admin actions, signals)."""
    async_to_sync(display_changed_async)(display_id)


def reload_display(display_id: int, reason: str = "requested by an administrator") -> None:
    """Synchronous ``reload_display_async``."""
    async_to_sync(reload_display_async)(display_id, reason)


def dashboard_removed(dashboard_id: int) -> None:
    """Close desk sockets of a deleted dashboard; walls showing it re-read their playlist."""
    async_to_sync(get_channel_layer().group_send)(dashboard_group(dashboard_id), {"type": "dash.removed"})


def config_changed() -> None:
    """Tell the bridge that widgets, statistics or dashboards changed."""
    store.bump_config_version()


async def request_resubscribe_async() -> None:
    """Ask the active bridge (in whatever process) to re-create every subscription."""
    await get_channel_layer().group_send(CONTROL_GROUP, {"type": "bridge.resubscribe"})


async def request_peek_async() -> None:
    """Ask the active bridge to fetch the current value of every subscribed statistic."""
    await get_channel_layer().group_send(CONTROL_GROUP, {"type": "bridge.peek"})


def request_resubscribe() -> None:
    """Synchronous ``request_resubscribe_async``."""
    async_to_sync(request_resubscribe_async)()


def request_peek() -> None:
    """Synchronous ``request_peek_async``."""
    async_to_sync(request_peek_async)()


async def peek_statistic_async(statistic, genesys: dict | None = None) -> dict:
    """The current wire Value of one pre-configured statistic, straight from the service.

    Uses its own short-lived connection (get-statistic-ex), so it works whether or not
    this process runs the bridge. Raises ``ValueError`` for a custom definition (the
    call takes names only) and ``statsbridge.upstream.errors.UpstreamError`` when the
    service fails or does not return the statistic.
    """
    from statsbridge.upstream.errors import StatisticsApiError

    if not statistic.name:
        raise ValueError("get-statistic-ex reads pre-configured statistics only; this one has a custom definition")
    genesys = genesys or settings.GENESYS
    session = create_session(genesys["API_KEY"])
    try:
        tokens = TokenProvider(session, Credentials.from_settings(genesys))
        client = StatisticsClient(session, genesys["API_URL"], tokens, attempts=2)
        wanted = {"name": statistic.name, "objectId": statistic.object_id, "objectType": statistic.object_type}
        result = await client.get_statistic_ex([wanted])
    finally:
        await session.close()
    items = [i for i in result.data.get("statistics", []) if isinstance(i, dict) and "value" in i]
    if not items:
        message = result.errors[0].message if result.errors else "the statistic was not returned"
        raise StatisticsApiError(code=result.code, message=message, path=result.path, http_status=200)
    item = items[0]
    hint = hint_for(statistic.key, statistic.name, statistic.definition)
    return Decoding().decode(item["value"], hint, timestamp=item.get("timestamp"), received=frames.now_ms())


def peek_statistic(statistic, genesys: dict | None = None) -> dict:
    """Synchronous ``peek_statistic_async``."""
    return async_to_sync(peek_statistic_async)(statistic, genesys)
