"""Pure parsing of the Statistics service's CometD data messages.

The same notification arrives in several dialects: items at ``data.statistics`` or
one level deeper at ``data.data.statistics``; the service channel with or without
its leading slash (the seed's sample even names it in a ``topic`` without one);
``serviceState`` in any letter case.
"""

UPDATES_CHANNEL = "/statistics/v3/updates"
SERVICE_CHANNEL = "/statistics/v3/service"
SERVICE_STATES = ("AVAILABLE", "UNAVAILABLE")


def _normal(channel) -> str:
    return channel.strip().strip("/").lower() if isinstance(channel, str) else ""


def _layers(data) -> list[dict]:
    """The message's data object and its nested ``data`` object, when they are objects."""
    found = []
    if isinstance(data, dict):
        found.append(data)
        if isinstance(data.get("data"), dict):
            found.append(data["data"])
    return found


def is_service_message(channel: str, data) -> bool:
    """Whether a message is a ServiceStateChange, judged by channel, topic or message type."""
    if _normal(channel) == _normal(SERVICE_CHANNEL):
        return True
    for layer in _layers(data):
        if _normal(layer.get("topic")) == _normal(SERVICE_CHANNEL):
            return True
        kind = layer.get("messageType", layer.get("name"))
        if isinstance(kind, str) and kind.lower() == "servicestatechange":
            return True
    return False


def service_state(channel: str, data) -> str | None:
    """``AVAILABLE``/``UNAVAILABLE`` from a ServiceStateChange, else None."""
    if not is_service_message(channel, data):
        return None
    for layer in _layers(data):
        state = layer.get("serviceState")
        if isinstance(state, str) and state.strip().upper() in SERVICE_STATES:
            return state.strip().upper()
    return None


def statistic_items(channel: str, data) -> list[dict]:
    """The ``{statisticId, value, timestamp, ...}`` items of a StatisticUpdate (empty if none)."""
    if _normal(channel) != _normal(UPDATES_CHANNEL) and not any(
        _normal(layer.get("topic")) == _normal(UPDATES_CHANNEL) for layer in _layers(data)
    ):
        return []
    for layer in _layers(data):
        items = layer.get("statistics")
        if isinstance(items, list):
            return [item for item in items if isinstance(item, dict) and isinstance(item.get("statisticId"), str)]
    return []
