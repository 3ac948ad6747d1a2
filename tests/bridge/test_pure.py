"""Pure parts of the bridge: definitions, decoding, frames, plans, notifications, helpers."""

import logging

import pytest
from django.core.exceptions import ValidationError

from statsbridge import frames
from statsbridge.bridge import fetched_is_superseded
from statsbridge.client_frames import SeqFilter, TokenBucket, parse_client_frame
from statsbridge.decoding import Decoding, Hint, hint_for
from statsbridge.definitions import definition_errors, validate_definition
from statsbridge.fanout import frames_for_changes
from statsbridge.formatting import duration_text
from statsbridge.models import Statistic
from statsbridge.notifications import service_state, statistic_items
from statsbridge.simulator import catalog
from statsbridge.simulator.model import ContactCentre
from statsbridge.store import connection_from_status, shown_values
from statsbridge.views import readiness
from statsbridge.wanted import Routes, plan_changes

GOOD = {"category": "TotalNumber", "subject": "DNAction", "mainMask": "CallAnswered", "notificationMode": "Changes"}


# ------------------------------------------------------------------ definitions


def test_a_complete_definition_is_valid():
    full = {
        **GOOD,
        "notificationMode": "Periodical",
        "notificationFrequency": 10,
        "insensitivity": 1,
        "intervalType": "SlidingWindow",
        "intervalLength": 1800,
        "relMask": "*",
        "dynamicTimeProfile": "00:00",
        "dynamicFilter": "Media=voice",
        "maskType": "DN",
    }
    assert definition_errors(full) == {}


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"category": "Bogus"}, "category", "must be one of"),
        ({"subject": None}, "subject", "required"),
        ({"notificationMode": "Sometimes"}, "notificationMode", "must be one of"),
        ({"notificationMode": "Periodical"}, "notificationFrequency", "required when notificationMode is Periodical"),
        ({"notificationFrequency": 0}, "notificationFrequency", "at least 1"),
        ({"insensitivity": -1}, "insensitivity", "at least 0"),
        ({"intervalType": "SlidingWindow"}, "intervalLength", "required when intervalType is SlidingWindow"),
        ({"intervalType": "Forever"}, "intervalType", "must be one of"),
        ({"dynamicTimeProfile": "25:00"}, "dynamicTimeProfile", "time of day"),
        ({"mainMask": "Call;Drop"}, "mainMask", "list of action or status names"),
        ({"colour": "red"}, "colour", "not a Stat Server definition field"),
        ({"category": "CurrentState", "subject": "DNAction"}, "subject", "CurrentState"),
        ({"dynamicFilter": "Media=voice\x00"}, "dynamicFilter", "control characters"),
    ],
)
def test_each_bad_field_gets_its_own_message(change, field, words):
    errors = definition_errors({**GOOD, **change})
    assert field in errors and words in errors[field]


def test_statistic_clean_explains_a_bad_definition():
    statistic = Statistic(object_type="Queue", object_id="q", definition={**GOOD, "category": "Nope"})
    with pytest.raises(ValidationError) as raised:
        statistic.clean()
    assert "category must be one of" in str(raised.value)
    Statistic(object_type="Queue", object_id="q", definition=GOOD).clean()
    with pytest.raises(ValidationError):
        validate_definition(["not", "an", "object"])


# ------------------------------------------------------------------ decoding


def decode(raw, name="", category="", decoding=None):
    value = (decoding or Decoding()).decode(raw, Hint("s1", name, category), timestamp=1_700_000_000_000, received=1)
    frames.validate_value(value)
    return value


@pytest.mark.parametrize(
    "raw, name, category, kind, number, text",
    [
        ({"value": 5}, "CallsWaiting", "", "number", 5, "5"),
        (12, "CallsWaiting", "", "number", 12, "12"),
        ({"value": 93.25}, "ServiceLevel", "", "percentage", 93.25, "93.3%"),  # half away from zero, as dashboard.js
        ({"value": 75}, "LongestWaitTime", "", "duration", 75, "1:15"),
        ({"intValue": 3725, "stringValue": "3725", "tag": -1, "intervalLength": 0}, "", "TotalTime", "duration", 3725, "1:02:05"),
        ({"stringValue": "42"}, "Anything", "", "number", 42, "42"),
        ({"ratio": 0.5}, "x", "", "percentage", 50, "50%"),
        ({"seconds": 61}, "x", "", "duration", 61, "1:01"),
        ({"value": 0}, "CallsAbandoned", "", "number", 0, "0"),
        ("7", "CallsWaiting", "", "number", 7, "7"),
    ],
)
def test_numbers_durations_and_percentages(raw, name, category, kind, number, text):
    value = decode(raw, name, category)
    assert (value["kind"], value["value"], value["text"], value["state"]) == (kind, number, text, "fresh")


def test_agent_state_from_stat_server_codes_names_and_reasons():
    value = decode(
        {"agentId": "a1", "status": 8, "time": 1_700_000_000, "reasons": [{"key": "ReasonCode", "value": "Break"}]},
        "CurrentAgentState",
    )
    assert value["kind"] == "agent_state"
    assert value["agent"] == {"state": "NotReady", "reason": "Break", "since": 1_700_000_000_000}
    assert value["text"] == "NotReady (Break)"
    assert decode({"AgentStatus": {"status": "WaitForNextCall"}})["agent"]["state"] == "Ready"
    assert decode({"state": "AfterCallWork", "reason": {"name": "Wrap"}})["agent"]["reason"] == "Wrap"


def test_every_simulator_shape_decodes_to_something_known():
    centre = ContactCentre(seed=3, agents=6, queues=2)
    objects = centre.objects()
    for spec in catalog.CATALOG.values():
        object_type = spec.object_types[0]
        raw = spec.compute(centre, object_type, objects[object_type][0])
        value = decode(raw, spec.name)
        assert value["kind"] != "unknown", spec.name
        kinds = {"count": "number", "duration": "duration", "percentage": "percentage", "agent-state": "agent_state",
                 "average": None}
        expected = kinds[spec.shape]
        if expected:
            assert value["kind"] == expected, spec.name


def test_unknown_shapes_are_unknown_never_zero_and_logged_once(caplog):
    decoding = Decoding()
    caplog.set_level(logging.WARNING, logger="statsbridge.decoding")
    for raw in ({"weird": [1, 2]}, None, True, {"status": 999}, float("nan"), "abc"):
        value = decode(raw, "X", decoding=decoding)
        assert (value["kind"], value["value"], value["text"]) == ("unknown", None, "?")
    assert len([r for r in caplog.records if "not understood" in r.getMessage()]) == 1


def test_one_decoding_follows_a_statistic_whose_value_changes_shape():
    decoding = Decoding()  # keeps per statistic the decoders planned for its last shape
    shapes = [
        ({"value": 5}, ("number", 5)),
        ({"VALUE": 6}, ("number", 6)),
        ({"status": 4, "value": 1}, ("agent_state", None)),  # the agent-state decoder comes first
        ({"seconds": 61}, ("duration", 61)),
        (7, ("number", 7)),
        ({"value": 8}, ("number", 8)),
        ({"value": True}, ("unknown", None)),
    ]
    for raw, (kind, number) in shapes:
        value = decode(raw, "CallsWaiting", decoding=decoding)
        assert (value["kind"], value["value"]) == (kind, number), raw
    decoding.forget([])
    assert decode({"value": 9}, "CallsWaiting", decoding=decoding)["value"] == 9


def test_statistics_of_one_value_shape_share_one_plan_of_decoders():
    decoding = Decoding()
    for number in range(100):  # a large tenant: many statistics, a handful of shapes
        key = f"k{number}"
        value = decoding.decode({"value": number} if number % 2 else {"status": 4, "time": 1}, Hint(key),
                                timestamp=1, received=1)
        assert value["kind"] == ("number" if number % 2 else "agent_state")
    plans = {id(plan) for plan in decoding._decoders_by_key.values()}
    assert len(decoding._decoders_by_key) == 100 and len(plans) == 2, "one (shape, decoders) per shape"
    # A statistic whose value changes shape moves to that shape's plan, alone.
    assert decoding.decode({"value": 1, "extra": 2}, Hint("k0"), timestamp=1, received=1)["kind"] == "number"
    assert decoding._decoders_by_key["k0"] is not decoding._decoders_by_key["k2"]


def test_newest_value_time_per_subscription_is_recomputed_once_a_second_or_on_change():
    from types import SimpleNamespace

    from statsbridge.bridge_status import last_updates

    holder = SimpleNamespace()
    latest = {"a": {"received": 5}, "b": {"received": 9}}
    shown = [("s1", frozenset({"a", "b"})), ("s2", frozenset({"c"}))]
    assert last_updates(holder, shown, latest, now=10.0) == {"s1": 9, "s2": None}
    latest["c"] = {"received": 12}
    assert last_updates(holder, shown, latest, now=10.5) == {"s1": 9, "s2": None}, "kept within the second"
    assert last_updates(holder, shown, latest, now=11.0) == {"s1": 9, "s2": 12}
    latest["a"] = {"received": 20}
    assert last_updates(holder, shown[:1], latest, now=11.1) == {"s1": 20}, "subscriptions changed: recomputed"


def test_hints_and_duration_formatting():
    assert hint_for("k", "", {"category": "ServiceFactor"}).numeric_kind == "percentage"
    assert hint_for("k", "CallsWaiting", None).numeric_kind == "number"
    assert hint_for("k", "AverageSpeedOfAnswer", None).numeric_kind == "duration"
    assert duration_text(-5) == "-0:05" and duration_text(3600) == "1:00:00"


# ------------------------------------------------------------------ frames


def test_every_builder_makes_a_valid_frame_and_the_validator_catches_mistakes():
    value = frames.value(kind="number", value=1, text="1", state="fresh", timestamp=None, received=5)
    connection = frames.connection(upstream="connected", service="AVAILABLE", bridge="up")
    for frame in (
        frames.snapshot("d", 0, connection, {"k": value}),
        frames.batch("d", 1, {"k": value}),
        frames.status("d", 2, connection),
        frames.error("bad_json", "x"),
        frames.reload("because"),
        frames.pong(1.5),
    ):
        frames.validate_frame(frame)
    broken = [
        {**frames.batch("d", 1, {"k": value}), "extra": 1},
        frames.batch("d", -1, {}),
        frames.batch("d", 1, {"k": {**value, "kind": "weird"}}),
        frames.batch("d", 1, {"k": {**value, "kind": "unknown"}}),
        frames.status("d", 1, {**connection, "service": "MAYBE"}),
        {"type": "surprise"},
    ]
    for frame in broken:
        with pytest.raises(frames.FrameError):
            frames.validate_frame(frame)
    with pytest.raises(frames.FrameError):
        frames.error("nope", "x")


def test_client_frames_are_parsed_or_explained():
    assert parse_client_frame('{"type": "resync"}', None) == ({"type": "resync"}, None)
    assert parse_client_frame('{"type": "ping", "t": true}', None)[1]["code"] == "bad_message"
    assert parse_client_frame(None, b"x")[1]["code"] == "bad_message"
    assert parse_client_frame('"x' + "é" * 2100 + '"', None)[1]["code"] == "too_large"
    telemetry = '{"type": "telemetry", "version": "v1", "memory": null, "latency": 3}'
    assert parse_client_frame(telemetry, None)[0]["latency"] == 3


# ------------------------------------------------------------------ plans and fan-out


def test_plan_touches_only_the_difference():
    held = {"sub1": {"a", "b"}, "sub2": {"c"}, "sub3": {"d", "e"}}
    plan = plan_changes({"a", "b", "d", "f"}, held)
    assert plan.create == ("f",) and plan.delete == ("sub2",) and plan.replace == {"sub3": ("d",)}
    assert plan_changes({"a", "b"}, {"sub1": {"a", "b"}}).empty


def test_one_batch_per_dashboard_per_tick_and_status_to_all():
    routes = Routes(
        wanted={}, dashboards_by_key={"a": frozenset({1, 2}), "b": frozenset({2})}, slugs={1: "one", 2: "two", 3: "three"}
    )
    seqs = {1: 10}
    value = frames.value(kind="number", value=1, text="1", state="fresh", timestamp=None, received=1)
    sent = frames_for_changes(routes, seqs, {"a": value, "b": value}, None)
    assert [(d, f["type"], f["seq"], sorted(f["values"])) for d, f in sent] == [
        (1, "batch", 11, ["a"]), (2, "batch", 1, ["a", "b"])]
    connection = frames.connection(upstream="down", service="UNKNOWN", bridge="up")
    sent = frames_for_changes(routes, seqs, {}, connection)
    assert [(d, f["type"], f["seq"]) for d, f in sent] == [(1, "status", 12), (2, "status", 2), (3, "status", 1)]


def test_notifications_in_the_reference_sample_form():
    # Verbatim the reference's samples (Statistics API, CometD notifications, ~lines 5045-5110).
    update = {"name": "StatisticUpdate", "topic": "/statistics/v3/updates", "data": {"statistics": [
        {"subscriptionId": "UUID1", "statisticId": "UUID2", "value": {"value": 3}, "timestamp": 1490830620000}]}}
    unavailable = {"data": {"serviceState": "UNAVAILABLE"}, "name": "ServiceStateChange", "topic": "/statistics/v3/service"}
    available = {"data": {"serviceState": "AVAILABLE"}, "name": "ServiceStateChange", "topic": "statistics/v3/service"}
    assert statistic_items("/statistics/v3/updates", update) == update["data"]["statistics"]
    assert service_state("/statistics/v3/updates", update) is None
    assert service_state("/statistics/v3/service", unavailable) == "UNAVAILABLE"
    assert service_state("/statistics/v3/service", available) == "AVAILABLE"
    assert service_state("/somewhere", available) == "AVAILABLE", "judged by its topic, slash or not"
    assert statistic_items("/statistics/v3/service", available) == []


def test_notifications_in_every_dialect():
    nested = {"messageType": "StatisticUpdate", "data": {"statistics": [{"statisticId": "s", "value": {"value": 1}}]}}
    flat = {"messageType": "StatisticUpdate", "statistics": [{"statisticId": "s"}, {"bad": 1}]}
    assert len(statistic_items("/statistics/v3/updates", nested)) == 1
    assert len(statistic_items("/statistics/v3/updates", flat)) == 1
    assert statistic_items("/other", flat) == []
    assert service_state("/statistics/v3/service", {"data": {"serviceState": "unavailable"}}) == "UNAVAILABLE"
    assert service_state("statistics/v3/service", {"serviceState": "AVAILABLE"}) == "AVAILABLE"
    assert service_state("/x", {"topic": "statistics/v3/service", "serviceState": "Available"}) == "AVAILABLE"
    assert service_state("/statistics/v3/updates", {"statistics": []}) is None


# ------------------------------------------------------------------ store and sockets helpers


def test_connection_and_values_shown_to_browsers():
    value = frames.value(kind="number", value=1, text="1", state="fresh", timestamp=None, received=1)
    live = {"connection": frames.connection(upstream="connected", service="AVAILABLE", bridge="up"), "heartbeat": 10_000}
    assert connection_from_status(live, now=10_100)["bridge"] == "up"
    dead = connection_from_status(live, now=10_000 + 5_000)
    assert dead["bridge"] == "down"
    shown = shown_values(["a", "b"], {"a": value}, dead)
    assert shown["a"]["state"] == "stale" and shown["b"]["state"] == "unknown"
    assert readiness(None)[0] is False and "no active bridge" in readiness(None)[1]
    refused = {"connection": frames.connection(upstream="down", service="UNKNOWN", bridge="up"),
               "heartbeat": frames.now_ms(), "config_error": "the API key was rejected by the CometD endpoint"}
    ready, reason, _ = readiness(refused)
    assert not ready and reason == "upstream is down: the API key was rejected by the CometD endpoint"


def test_token_bucket_and_sequence_filter():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=2, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(3)] == [True, True, False]
    now[0] = 0.5
    assert bucket.allow() and not bucket.allow()
    seqs = SeqFilter()
    assert not seqs.accept({"dashboard": "d", "seq": 1})
    seqs.snapshot_sent({"dashboard": "d", "seq": 4})
    assert [seqs.accept({"dashboard": "d", "seq": s}) for s in (3, 4, 5, 5, 7)] == [False, False, True, False, True]


def test_a_rest_reply_never_replaces_a_newer_notification_that_overtook_it():
    """Found by the fault matrix (a wall tile showed the subscription reply's value, fresh,
    2.1 s after the notification that overtook the reply had brought the newer one)."""
    sent = 1_000_000

    def seen(received, timestamp):
        return frames.value(kind="number", value=1, text="1", state="fresh", timestamp=timestamp, received=received)

    assert not fetched_is_superseded(None, 900, sent)  # nothing yet
    assert not fetched_is_superseded(seen(sent - 1, 999_000), 900, sent)  # known before the request: the reply is newer
    assert fetched_is_superseded(seen(sent + 5, 999_500), 999_400, sent)  # overtaken by a newer notification
    assert fetched_is_superseded(seen(sent + 5, 999_400), 999_400, sent)  # same moment: keep what the stream said
    assert not fetched_is_superseded(seen(sent + 5, 999_300), 999_400, sent)  # a late, older notification: reply wins
    assert fetched_is_superseded(seen(sent + 5, None), 999_400, sent)  # no timestamps to compare: arrival order
    assert fetched_is_superseded(seen(sent + 5, 999_300), "yesterday", sent)
    assert fetched_is_superseded(seen(sent + 5, 999_300), True, sent)


def test_the_cometd_client_counters_are_exported_on_metrics():
    from statsbridge import metrics
    from statsbridge.upstream.bayeux import ClientStats, ConnectionState

    stats = ClientStats(ConnectionState.CONNECTED, 1_700_000_000.5, handshakes=1, reconnects=0, messages=42,
                        errors=3, dropped=2, rejected=1)
    metrics.bayeux_client.source = lambda: stats
    try:
        text = metrics.render().decode()
    finally:
        metrics.bayeux_client.source = None
    for line in ("ccdash_bayeux_messages_total 42.0", "ccdash_bayeux_errors_total 3.0", "ccdash_bayeux_dropped_total 2.0",
                 "ccdash_bayeux_rejected_total 1.0", "ccdash_bayeux_last_message_timestamp_seconds 1.7000000005e+09"):
        assert line in text, line
    assert "ccdash_bayeux_messages_total" not in metrics.render().decode(), "no client, no counters"
