"""The envelope decoder (CometD data messages → items/service state) and the value
decoders under arbitrary input: every value becomes a schema-valid wire Value or is
flagged ``unknown`` with one clear log line; nothing raises into the bridge.
"""

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statsbridge import frames
from statsbridge.bridge import Bridge
from statsbridge.decoding import Decoding, Hint
from statsbridge.fanout import Fanout
from statsbridge.notifications import service_state, statistic_items
from statsbridge.upstream.bayeux.events import Message
from statsbridge.wanted import Routes, Wanted
from tests.property.strategies import channels, deeply_nested, json_values, plausible

HINTS = [Hint("k-count", "CallsWaiting"), Hint("k-time", "LongestWaitTime"), Hint("k-pct", "ServiceLevel"),
         Hint("k-agent", "CurrentAgentState"), Hint("k-custom", "", "CurrentTime"), Hint("k-bare")]
timestamps = st.none() | st.integers() | st.integers(min_value=10**300, max_value=10**400) | st.floats() | st.text(max_size=5)


@given(raw=plausible | json_values, hint=st.sampled_from(HINTS), timestamp=timestamps,
       state=st.sampled_from(["fresh", "stale"]))
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_value_decodes_to_a_valid_wire_value(raw, hint, timestamp, state):
    value = Decoding().decode(raw, hint, timestamp=timestamp, received=1_700_000_000_000, state=state)
    frames.validate_value(value)
    assert value["state"] == state
    if value["kind"] == "unknown":
        assert value["value"] is None and value["text"] != "0"


def test_an_unknown_shape_is_logged_once_per_statistic_with_its_shape(caplog):
    decoding = Decoding()
    caplog.set_level(logging.WARNING, logger="statsbridge.decoding")
    for _ in range(3):
        value = decoding.decode({"mystery": [1, 2, 3]}, Hint("k-odd", "Odd"), timestamp=None, received=1)
        assert value["kind"] == "unknown" and value["value"] is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert "k-odd" in lines[0] and "not understood" in lines[0] and "mystery: list[3]" in lines[0]


def test_deeply_nested_and_huge_values_are_unknown_not_a_crash():
    decoding = Decoding()
    for raw in (deeply_nested(50_000), [0] * 1_000_000, {"reasons": deeply_nested(50_000), "status": 8}):
        value = decoding.decode(raw, Hint("k-deep", "AgentsReady"), timestamp=None, received=1)
        frames.validate_value(value)


def test_a_timestamp_too_large_for_a_float_is_dropped_not_raised():
    value = Decoding().decode({"value": 3}, Hint("k", "CallsWaiting"), timestamp=10**400, received=1)
    frames.validate_value(value)
    assert value["value"] == 3


@given(channel=channels, data=plausible | json_values)
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_envelopes_give_items_with_string_ids_or_nothing(channel, data):
    state = service_state(channel, data)
    assert state in (None, "AVAILABLE", "UNAVAILABLE")
    for item in statistic_items(channel, data):
        assert isinstance(item, dict) and isinstance(item["statisticId"], str)


def _bridge() -> Bridge:
    fanout = Fanout(run_sync=None, layer=object(), record_history=False)
    fanout.routes = Routes(wanted={h.key: Wanted(h.key, {}, h) for h in HINTS},
                           dashboards_by_key={h.key: frozenset({1}) for h in HINTS}, slugs={1: "floor"})
    return Bridge({}, None, fanout, batch_size=10)


items = st.fixed_dictionaries(
    {"statisticId": st.sampled_from([h.key for h in HINTS]) | st.text(max_size=4)},
    optional={"value": plausible | json_values, "timestamp": timestamps, "name": json_values},
)
updates = st.builds(
    lambda nest, listed: {"messageType": "StatisticUpdate", "data": {"statistics": listed}} if nest else {"statistics": listed},
    st.booleans(), st.lists(items | plausible, max_size=6),
)


@given(channel=channels, data=updates | plausible | json_values)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_bridge_digests_any_data_message(channel, data):
    bridge = _bridge()
    bridge.handle(Message(channel, data, {"channel": channel, "data": data}))
    for key, value in bridge.fanout.latest.items():
        assert key in bridge.fanout.routes.wanted, f"a value for an unconfigured statistic {key!r} was kept"
        frames.validate_value(value)


def test_unknown_channels_and_statistics_are_ignored():
    bridge = _bridge()
    item = {"statisticId": "k-count", "value": {"value": 4}, "timestamp": 1}
    bridge.handle(Message("/somebody/else", {"statistics": [item]}, {}))
    bridge.handle(Message("/statistics/v3/updates", {"statistics": [{**item, "statisticId": "not-ours"}]}, {}))
    assert bridge.fanout.latest == {}
    bridge.handle(Message("/statistics/v3/updates", {"statistics": [item]}, {}))
    assert bridge.fanout.latest["k-count"]["value"] == 4
