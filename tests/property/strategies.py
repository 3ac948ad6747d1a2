"""Hypothesis strategies for hostile JSON: any shape, wrong types, huge numbers and arrays."""

from hypothesis import strategies as st

# Python's json module reads NaN/Infinity and integers of any size: a server can send them.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)

json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=40,
)

CHANNELS = ["/statistics/v3/updates", "statistics/v3/updates", "/statistics/v3/service", "statistics/v3/service",
            "/STATISTICS/V3/SERVICE", "/meta/connect", "/meta/handshake", "/unknown/channel", "", "/"]
channels = st.sampled_from(CHANNELS) | st.text(max_size=20)
KEYS = ["statisticId", "value", "timestamp", "statistics", "data", "messageType", "serviceState", "topic",
        "name", "state", "status", "reasons", "time", "intValue", "stringValue", "seconds", "ratio",
        "AgentStatus", "channel", "id", "successful", "clientId", "advice", "reconnect", "interval", "timeout",
        "supportedConnectionTypes", "error"]


def known_keyed(children):
    """Objects whose keys are the ones the parsers look for, with anything as values."""
    return st.dictionaries(st.sampled_from(KEYS), children, max_size=8)


# JSON that looks like what the parsers expect, with wrong types anywhere.
plausible = st.recursive(
    scalars | st.sampled_from(CHANNELS) | st.sampled_from(["AVAILABLE", "UNAVAILABLE", "available", "ServiceStateChange",
                                                          "StatisticUpdate", "retry", "handshake", "none", "long-polling"]),
    lambda children: st.lists(children, max_size=6) | known_keyed(children),
    max_leaves=60,
)


def deeply_nested(depth: int, leaf=None):
    """A JSON value nested ``depth`` levels (alternating lists and objects)."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"data": value}
    return value
