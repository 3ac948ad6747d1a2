"""The ingest path counts in bulk and still counts the right numbers.

A message's items are decoded one by one, but the update rates, ``ccdash_updates_in``,
``ccdash_decode_unknown`` and the publish histograms are counted once per message or
publish: these tests hold them to what one count per update would have said.
"""

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from statsbridge import frames, metrics
from statsbridge.bridge import Bridge
from statsbridge.decoding import Decoding, hint_for
from statsbridge.fanout import Fanout
from statsbridge.rates import UpdateRates
from tests.bridge.publishing import routes_of

GENESYS = {"API_URL": "http://127.0.0.1:9", "API_KEY": "k", "CLIENT_ID": "c", "CLIENT_SECRET": "s", "USERNAME": "u",
           "PASSWORD": "p"}


async def run_sync(function, *args, **kwargs):
    return function(*args, **kwargs)


class Layer:
    """A channel layer that keeps what was sent."""

    def __init__(self):
        self.sent = []

    async def group_send(self, group, message):
        self.sent.append((group, message))


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_observe_many_counts_as_one_observe_per_amount():
    buckets = (0.01, 0.05, 0.1, 0.25, 1, 5)
    amounts = [0.0, 0.01, 0.0100001, 0.05, 0.2, 0.25, 0.9, 1.0, 4.99, 5.0, 5.01, 1e9, 0.01]
    one, many = CollectorRegistry(), CollectorRegistry()
    each = Histogram("h", "one by one", buckets=buckets, registry=one)
    bulk = Histogram("h", "in bulk", buckets=buckets, registry=many)
    for amount in amounts:
        each.observe(amount)
    metrics.observe_many(bulk, amounts[:5])
    metrics.observe_many(bulk, [])
    metrics.observe_many(bulk, amounts[5:])

    def samples(registry):
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in registry.collect() for s in family.samples if not s.name.endswith("_created")}

    assert samples(many) == samples(one)
    assert samples(many)[("h_count", ())] == len(amounts)


def test_rates_count_a_message_at_once_as_one_by_one():
    one, many = UpdateRates(clock=lambda: 0.0), UpdateRates(clock=lambda: 0.0)
    keys = ["a", "b", "a", "c", "a"]
    for key in keys:
        one.count(key)
    many.count_many(keys[:2])
    many.count_many(keys[2:])
    assert many.total == one.total == 5
    assert many._by_key == one._by_key == {"a": 3, "b": 1, "c": 1}


@pytest.fixture
async def bridge():
    fanout = Fanout(run_sync, layer=Layer(), record_history=False, floor_seconds=0.25)
    await fanout.set_routes(routes_of({1: ["a", "b"], 2: ["b", "c"]}))
    await fanout.flush()  # the first connection status
    fanout.layer.sent.clear()
    made = Bridge(GENESYS, run_sync, fanout)
    made.service = "AVAILABLE"
    return made


def item(key, value, timestamp=1_000):
    return {"statisticId": key, "value": value, "timestamp": timestamp}


async def test_a_message_is_decoded_queued_and_counted_in_bulk(bridge):
    fanout = bridge.fanout
    fanout.take_observed()
    updates_in, unknown = sample("ccdash_updates_in_total"), sample("ccdash_decode_unknown_total")
    items = [item("a", {"value": 1}), item("nobody-wants", {"value": 2}), item("b", {"value": 3}),
             item("a", {"value": 4}, 2_000), item("c", {"value": True})]
    bridge._on_message("/statistics/v3/updates", {"statistics": items})

    # Every wanted update counts, a repeated statistic twice; the unwanted one not.
    assert sample("ccdash_updates_in_total") - updates_in == 4
    assert sample("ccdash_decode_unknown_total") - unknown == 1
    # The rates count every update the upstream pushed (as the status's rate always did).
    assert bridge.update_rates.total == 5 and bridge.update_rates._by_key["a"] == 2
    # The last value of a statistic in the message wins, everywhere it is kept.
    assert fanout.latest["a"]["value"] == 4 and fanout.latest["a"]["timestamp"] == 2_000
    assert fanout.latest["c"]["kind"] == "unknown"
    assert "nobody-wants" not in fanout.latest
    assert fanout._pending == {k: fanout.latest[k] for k in ("a", "b", "c")}
    assert fanout._waiting == {1: {"a": fanout.latest["a"], "b": fanout.latest["b"]},
                               2: {"b": fanout.latest["b"], "c": fanout.latest["c"]}}
    assert fanout.take_observed() == {"a", "b", "c"}
    assert fanout.take_observed() == frozenset()

    sent = await fanout.flush()
    assert sent == 2
    batches = {m["frame"]["dashboard"]: m["frame"]["values"] for _, m in fanout.layer.sent}
    assert batches == {"d1": {"a": fanout.latest["a"], "b": fanout.latest["b"]},
                       "d2": {"b": fanout.latest["b"], "c": fanout.latest["c"]}}


async def test_values_of_an_unavailable_service_are_queued_stale(bridge):
    bridge.service = "UNAVAILABLE"
    bridge._on_message("/statistics/v3/updates", {"statistics": [item("a", {"value": 1})]})
    assert bridge.fanout.latest["a"]["state"] == "stale"


async def test_offer_many_leaves_out_unwanted_keys_and_counts_what_it_kept(bridge):
    fanout = bridge.fanout
    before = sample("ccdash_updates_in_total")
    value = frames.value(kind="number", value=1, text="1", state="fresh", timestamp=None, received=1)
    fanout.offer_many({"a": value, "zzz": value}, 3)  # "a" twice and "zzz" once upstream
    assert sample("ccdash_updates_in_total") - before == 2
    assert set(fanout.latest) == {"a"}
    fanout.offer_many({"zzz": value})
    fanout.offer_many({"b": value})
    assert sample("ccdash_updates_in_total") - before == 3
    assert set(fanout._pending) == {"a", "b"}


async def test_a_publish_observes_ages_and_lags_of_its_fresh_values_once_each(bridge):
    fanout = bridge.fanout
    fanout._clock = lambda: 10_000
    names = ("ccdash_updates_out_total", "ccdash_update_age_seconds_count", "ccdash_update_age_seconds_sum",
             "ccdash_fanout_lag_seconds_count", "ccdash_fanout_lag_seconds_sum")
    before = {name: sample(name) for name in names}
    fanout.offer_many({
        "a": frames.value(kind="number", value=1, text="1", state="fresh", timestamp=9_000, received=9_500),
        "b": frames.value(kind="number", value=2, text="2", state="fresh", timestamp=None, received=9_750),
        "c": frames.value(kind="number", value=3, text="3", state="stale", timestamp=1, received=1),
    })
    await fanout.flush()
    delta = {name: round(sample(name) - before[name], 6) for name in names}
    assert delta == {"ccdash_updates_out_total": 3,
                     "ccdash_update_age_seconds_count": 1, "ccdash_update_age_seconds_sum": 1.0,
                     "ccdash_fanout_lag_seconds_count": 2, "ccdash_fanout_lag_seconds_sum": 0.75}


def test_one_decoding_decodes_a_sequence_as_fresh_decodings_would():
    """The plan kept per statistic (keys of its last value, folded or copied) never changes a result."""
    hint = hint_for("k", "CallsWaiting", None)
    values = [{"value": 1}, {"value": 2}, {"Value": 3}, {"Value": 4}, {"value": 5, "Value": 6}, {"value": 7},
              {"intValue": 8, "tag": "x"}, {"intvalue": 9, "TAG": "y"}, 10, "11", {"value": 12}, None,
              {"status": "Ready"}, {"STATUS": "NotReady", "reason": "Break"}, {"value": 13.5},
              # One number field (the decoders are skipped) and what must still take the long way:
              {"value": 14}, {"value": 15.25}, {"value": True}, {"value": "16"}, {"value": None}, {"value": 10**400},
              {"value": float("inf")}, {"value": 17}, {"value": 18, "stringvalue": "x"}, {"value": None, "stringvalue": "19"},
              {"value": 20, "stringvalue": "x"}, {"intvalue": 21, "value": 22}, {"intvalue": 23, "value": 24}]
    kept = Decoding()
    for raw in values:
        assert kept.decode(raw, hint, timestamp=5, received=6) == Decoding().decode(raw, hint, timestamp=5,
                                                                                     received=6), raw
    kept.decode({"value": 1}, hint, timestamp=5, received=6)
    assert kept._decoders_by_key["k"][3] == "value"  # the short way was there to take
