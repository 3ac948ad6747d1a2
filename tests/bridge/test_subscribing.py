"""The subscription rules (statsbridge.subscribing) and the polling switch (statsbridge.polling), no network."""

import itertools

import pytest

from statsbridge.polling import ChannelHealth
from statsbridge.subscribing import (
    FAILED,
    REFUSED,
    TRANSIENT,
    Create,
    Delete,
    Peek,
    SubscriptionBook,
    classify_call,
    classify_create,
    refusal_messages,
)
from statsbridge.upstream.statistics import ItemError


def book(batch_size=2, lost_after=2):
    counter = itertools.count(1)
    # rand=1.0: the backoff is its ceiling, base 0.5 doubling.
    return SubscriptionBook(batch_size, lambda: f"op-{next(counter)}", lost_after=lost_after, rand=lambda: 1.0)


def of(kind, actions):
    return [a for a in actions if isinstance(a, kind)]


def items(*keys, value=True):
    return [{"statisticId": k, **({"value": {"value": 1}} if value else {})} for k in keys]


def create_all(b, now=0.0):
    """Run every due create successfully; return them."""
    creates = of(Create, b.actions(now))
    for create in creates:
        b.created(create, items(*create.keys), {}, partial=False)
    return creates


# ---------------------------------------------------------------- classification


@pytest.mark.parametrize("http_status, transient, kind", [
    (None, True, TRANSIENT), (503, True, TRANSIENT), (504, True, TRANSIENT),
    (400, False, REFUSED), (404, False, REFUSED), (422, False, REFUSED),
    (500, False, FAILED), (200, False, FAILED), (403, False, FAILED), (None, False, FAILED),
])
def test_a_failed_create_is_transient_refused_or_failed(http_status, transient, kind):
    assert classify_create(http_status, transient) == kind


def test_any_peek_failure_that_is_not_transient_counts():
    assert classify_call(True) == TRANSIENT and classify_call(False) == FAILED


# ---------------------------------------------------------------- batches


def test_wanted_keys_are_created_in_batches_each_held_alone():
    b = book()
    b.want({"a", "b", "c"})
    creates = of(Create, b.actions(0.0))
    assert [(c.operation_id, c.keys) for c in creates] == [("op-1", ("a", "b")), ("op-2", ("c",))]
    assert b.actions(0.0) == [], "each create is handed out once"
    for create in creates:
        b.created(create, items(*create.keys), {}, partial=False)
    assert b.held == {"op-1": frozenset({"a", "b"}), "op-2": frozenset({"c"})}
    assert not b.busy and b.next_due(0.0) is None


def test_one_failed_batch_is_retried_alone_with_backoff_and_the_others_stay_held():
    b = book()
    b.want({"a", "b", "c", "d"})
    first, second = of(Create, b.actions(0.0))
    b.created(first, items(*first.keys), {}, partial=False)
    b.create_failed(second, FAILED, "Internal server error", now=10.0)
    assert b.held == {"op-1": frozenset({"a", "b"})}
    assert b.retrying() == {"c": "Internal server error", "d": "Internal server error"}
    # The failed create may exist upstream all the same: deleted at once, before the retry.
    assert b.next_due(10.0) == 0.0
    assert b.actions(10.0) == [Delete(("op-2",))]
    assert b.next_due(10.0) == pytest.approx(0.5)
    assert b.actions(10.2) == []
    retry = of(Create, b.actions(10.5))
    assert [(c.operation_id, c.keys) for c in retry] == [("op-3", ("c", "d"))], "only the failed batch, a new id"
    b.create_failed(retry[0], TRANSIENT, "TimeoutError", now=20.0)
    assert b.actions(20.0) == [Delete(("op-3",))], "a create whose reply was lost is deleted"
    assert b.next_due(20.0) == pytest.approx(1.0), "backoff doubles"
    last = of(Create, b.actions(21.0))
    b.created(last[0], items("c", "d"), {}, partial=False)
    assert b.held == {"op-1": frozenset({"a", "b"}), "op-4": frozenset({"c", "d"})}
    assert b.retrying() == {} and b.refused == {}


def test_a_batch_refused_for_its_content_is_reported_and_not_retried():
    b = book()
    b.want({"a", "b", "c"})
    first, second = of(Create, b.actions(0.0))
    b.created(first, items("a", "b"), {}, partial=False)
    b.create_failed(second, REFUSED, "Object VQ_Nowhere not found", now=1.0)
    assert b.refused == {"c": "Object VQ_Nowhere not found"}
    assert b.actions(100.0) == [] and b.next_due(100.0) is None
    b.want({"a", "b", "c"})
    assert b.actions(100.0) == [], "wanted again: still refused, not retried"
    b.want({"a", "b"})
    assert b.refused == {}, "no longer wanted: no longer reported"


def test_partial_success_keeps_what_succeeded_and_reports_each_refusal_with_its_message():
    b = book(batch_size=3)
    b.want({"a", "b", "c"})
    create, = of(Create, b.actions(0.0))
    errors = [ItemError(400, "Unknown statistic name 'Nope'", {"statisticId": "b"}),
              ItemError(400, "Object not found", {"statisticId": "c"})]
    by_key, general = refusal_messages(create.keys, errors)
    outcome = b.created(create, items("a"), by_key, partial=True, general_error=general)
    assert b.held == {"op-1": frozenset({"a"})}
    assert b.refused == {"b": "Unknown statistic name 'Nope'", "c": "Object not found"}
    assert outcome.refused == b.refused and outcome.held == ("a",)


def test_refusals_no_error_names_get_the_only_message_or_a_general_one():
    one = [ItemError(400, "bad", None)]
    assert refusal_messages(["x"], one) == ({}, "bad")
    two = [ItemError(400, "bad", None), ItemError(400, "worse", None)]
    assert refusal_messages(["x"], two) == ({}, "refused by the Statistics service")


def test_a_terse_reply_holds_everything_and_asks_for_the_values():
    b = book(batch_size=3)
    b.want({"a", "b"})
    create, = of(Create, b.actions(0.0))
    outcome = b.created(create, [], {}, partial=False)
    assert b.held == {"op-1": frozenset({"a", "b"})} and outcome.need_values == ("a", "b")
    assert of(Peek, b.actions(0.0)) == [Peek("op-1", ("a", "b"))]


def test_values_missing_from_a_create_reply_are_peeked():
    b = book(batch_size=3)
    b.want({"a", "b"})
    create, = of(Create, b.actions(0.0))
    b.created(create, items("a") + items("b", value=False), {}, partial=False)
    assert of(Peek, b.actions(0.0)) == [Peek("op-1", ("b",))]


# ---------------------------------------------------------------- lost subscriptions


@pytest.mark.parametrize("answer", ["404 not found", "500 internal error", "200 with status.code 500"])
def test_a_subscription_whose_peeks_keep_failing_is_lost_and_created_again(answer):
    b = book()
    b.want({"a", "b"})
    create_all(b)
    b.request_peek(now=5.0)
    peek, = of(Peek, b.actions(5.0))
    assert b.peek_failed(peek, FAILED, now=5.0) is False, "one failure may be a blip"
    assert b.held == {"op-1": frozenset({"a", "b"})}
    assert b.actions(5.0) == [], "retried after a backoff, not at once"
    retry, = of(Peek, b.actions(5.5))
    assert retry == peek
    assert b.peek_failed(retry, FAILED, now=6.0) is True
    assert b.held == {} and b.lost_total == 1
    actions = b.actions(6.0)
    assert actions[0] == Delete(("op-1",)), "deleted first (harmless if gone)"
    assert [(c.operation_id, c.keys) for c in of(Create, actions)] == [("op-2", ("a", "b"))]


def test_transient_peek_failures_never_lose_a_subscription():
    b = book()
    b.want({"a"})
    create_all(b)
    b.request_peek(now=0.0)
    now = 0.0
    for _ in range(6):
        peek, = of(Peek, b.actions(now))
        assert b.peek_failed(peek, TRANSIENT, now=now) is False
        now += b.next_due(now)
    assert b.held == {"op-1": frozenset({"a"})} and b.lost_total == 0
    peek, = of(Peek, b.actions(now))
    b.peeked(peek, ["a"], partial=False)
    assert b.next_due(now) is None


def test_a_success_between_failures_starts_the_count_again():
    b = book()
    b.want({"a"})
    create_all(b)
    for at in (0.0, 10.0, 20.0):
        b.request_peek(now=at)
        peek, = of(Peek, b.actions(at))
        b.peek_failed(peek, FAILED, now=at)
        retry, = of(Peek, b.actions(at + 5))
        b.peeked(retry, ["a"], partial=False)
    assert b.held == {"op-1": frozenset({"a"})} and b.lost_total == 0


def test_keys_a_partial_peek_leaves_out_are_created_again():
    b = book(batch_size=3)
    b.want({"a", "b", "c"})
    create_all(b)
    b.request_peek(now=0.0)
    peek, = of(Peek, b.actions(0.0))
    assert b.peeked(peek, ["a"], partial=True) == ("b", "c")
    assert b.held == {"op-1": frozenset({"a"})}
    assert [c.keys for c in of(Create, b.actions(0.0))] == [("b", "c")]


def test_unavailable_drops_everything_without_deleting_and_start_over_deletes():
    b = book()
    b.want({"a", "b", "c"})
    create_all(b)
    b.drop_all()
    assert b.held == {} and b.actions(0.0) == []
    b.want({"a", "b", "c"})
    create_all(b)
    b.start_over()
    b.want({"a", "b", "c"})
    actions = b.actions(0.0)
    assert actions[0] == Delete(("op-3", "op-4"))
    assert [c.keys for c in of(Create, actions)] == [("a", "b"), ("c",)]


def test_a_create_answered_after_the_plan_was_dropped_is_deleted():
    b = book()
    b.want({"a"})
    create, = of(Create, b.actions(0.0))
    b.start_over()  # a re-handshake while the create was out
    b.actions(0.0)
    outcome = b.created(create, items("a"), {}, partial=False)
    assert outcome.subscription_id is None and b.held == {}
    assert b.actions(0.0) == [Delete(("op-1",))]


def test_inherited_subscriptions_are_deleted_before_ours_are_created():
    b = book()
    b.inherit(["old-1", "old-2"])
    b.want({"a"})
    actions = b.actions(0.0)
    assert actions[0] == Delete(("old-1", "old-2")) and isinstance(actions[1], Create)
    assert "old-1" not in b.all_ids()


def test_all_ids_names_creates_under_way_so_a_successor_deletes_them():
    b = book()
    b.want({"a", "b", "c"})
    first, _second = of(Create, b.actions(0.0))
    b.created(first, items("a", "b"), {}, partial=False)
    assert b.all_ids() == ["op-1", "op-2"]


# ---------------------------------------------------------------- wanted-set changes


def test_admin_changes_touch_only_the_difference():
    b = book(batch_size=3)
    b.want({"a", "b", "c"})
    create_all(b)
    b.want({"a", "b", "d"})
    actions = b.actions(0.0)
    # "c" leaves op-1: op-1 is replaced by a subscription of a and b (created first), d is new.
    creates = of(Create, actions)
    assert [c.keys for c in creates] == [("a", "b"), ("d",)]
    assert b.held == {"op-1": frozenset({"a", "b", "c"})}, "the old one serves until its replacement exists"
    for create in creates:
        b.created(create, items(*create.keys), {}, partial=False)
    assert b.held == {"op-2": frozenset({"a", "b"}), "op-3": frozenset({"d"})}
    assert b.actions(0.0) == [Delete(("op-1",))]
    b.want(set())
    assert b.actions(0.0) == [Delete(("op-2", "op-3"))] and b.held == {}


def test_keys_no_longer_wanted_leave_pending_batches():
    b = book()
    b.want({"a", "b"})
    create, = of(Create, b.actions(0.0))
    b.create_failed(create, FAILED, "boom", now=0.0)
    b.want(set())
    assert of(Create, b.actions(100.0)) == [] and not b.busy


def test_peek_requests_merge_and_a_request_for_all_stays_for_all():
    b = book(batch_size=3)
    b.want({"a", "b", "c"})
    create_all(b)
    b.request_peek("op-1", ["a"], now=1.0)
    b.request_peek("op-1", ["b"], now=2.0)
    assert of(Peek, b.actions(2.0)) == [Peek("op-1", ("a", "b"))]
    b.peeked(Peek("op-1", ("a", "b")), ["a", "b"], partial=False)
    b.request_peek(now=3.0)
    b.request_peek("op-1", ["a"], now=3.0)
    assert of(Peek, b.actions(3.0)) == [Peek("op-1", ("a", "b", "c"))]


def test_a_book_needs_sensible_sizes():
    with pytest.raises(ValueError):
        SubscriptionBook(0, str)
    with pytest.raises(ValueError):
        SubscriptionBook(1, str, lost_after=0)


# ---------------------------------------------------------------- polling switch


def test_three_failed_connects_switch_to_polling_and_a_connect_switches_back():
    health = ChannelHealth(fail_limit=3, outage_seconds=30)
    health.start(0.0)
    health.on_connected()
    assert not health.should_poll(100.0)
    for at in (101.0, 102.0):
        health.on_failure(at)
        assert not health.should_poll(at)
    health.on_failure(103.0)
    assert health.should_poll(103.0)
    health.on_connected()
    assert not health.should_poll(104.0) and health.failures == 0


def test_thirty_seconds_without_a_connect_switch_to_polling():
    health = ChannelHealth(fail_limit=3, outage_seconds=30)
    health.start(0.0)  # never connected: a handshake that hangs counts too
    assert not health.should_poll(29.9) and health.poll_in(20.0) == pytest.approx(10.0)
    assert health.should_poll(30.0)
    health.on_connected()
    health.on_down(50.0)  # connection lost, no failure reported yet
    assert not health.should_poll(79.0) and health.should_poll(80.0)


def test_channel_health_needs_sensible_limits():
    with pytest.raises(ValueError):
        ChannelHealth(fail_limit=0)
    with pytest.raises(ValueError):
        ChannelHealth(outage_seconds=0)


# ---------------------------------------------------------------- the polling connection on the wire


def test_a_polling_connection_carries_its_period_and_counts_as_live():
    from statsbridge import frames
    from statsbridge.store import is_live, shown_values
    from statsbridge.views import readiness

    polling = frames.connection(upstream="polling", service="AVAILABLE", bridge="up", as_of=1, poll_seconds=5.0)
    assert polling == {"upstream": "polling", "service": "AVAILABLE", "bridge": "up", "as_of": 1, "poll_seconds": 5.0}
    frames.validate_connection(polling)
    assert "poll_seconds" not in frames.connection(upstream="connected", service="AVAILABLE", bridge="up",
                                                   poll_seconds=5.0), "only while polling"
    with pytest.raises(frames.FrameError, match="only while upstream is polling"):
        frames.validate_connection({**polling, "upstream": "connected"})
    with pytest.raises(frames.FrameError, match="poll_seconds"):
        frames.validate_connection({**polling, "poll_seconds": 0})
    assert is_live(polling)
    value = frames.value(kind="number", value=1, text="1", state="fresh", timestamp=None, received=1)
    assert shown_values(["a"], {"a": value}, polling)["a"]["state"] == "fresh"
    status = {"connection": polling, "heartbeat": frames.now_ms()}
    assert readiness(status)[:2] == (True, "polling every 5 s (CometD cannot be held)")


# ---------------------------------------------------------------- many batches in flight at once


def held_exactly_once(b, wanted):
    """Every wanted key is in exactly one held subscription."""
    counted = [k for keys in b.held.values() for k in keys]
    return len(counted) == len(set(counted)) and set(counted) == set(wanted)


def test_batches_in_flight_together_answer_in_any_order_and_failures_are_retried_alone():
    wanted = {f"k{i:03}" for i in range(100)}
    b = book(batch_size=7)
    b.want(wanted)
    creates = of(Create, b.actions(0.0))
    assert len(creates) == 15 and len({c.operation_id for c in creates}) == 15
    assert sorted(k for c in creates for k in c.keys) == sorted(wanted), "each key in exactly one batch"
    failed = creates[3], creates[11]
    # Outcomes arrive in reverse order of sending, two of them failures.
    for create in reversed(creates):
        if create in failed:
            b.create_failed(create, TRANSIENT if create is failed[0] else FAILED, "HTTP 500", now=1.0)
        else:
            b.created(create, items(*create.keys), {}, partial=False)
    assert b.busy and b.held_keys() == wanted - set(failed[0].keys) - set(failed[1].keys)
    assert b.actions(1.0) == [Delete(tuple(sorted(c.operation_id for c in failed)))], "not due before the backoff"
    retries = of(Create, b.actions(2.0))
    assert [r.keys for r in retries] == [f.keys for f in failed], "the failed batches alone, as they were"
    assert not {r.operation_id for r in retries} & {c.operation_id for c in creates}, "under new ids"
    for retry in reversed(retries):
        b.created(retry, items(*retry.keys), {}, partial=False)
    assert held_exactly_once(b, wanted) and not b.busy and b.actions(3.0) == []


def test_a_create_still_queued_when_the_plan_is_dropped_is_not_current():
    b = book(batch_size=2)
    b.want({"a", "b", "c", "d"})
    sent, queued = of(Create, b.actions(0.0))
    assert b.is_current(sent) and b.is_current(queued)
    b.drop_all()  # UNAVAILABLE while ``queued`` waits behind the window
    assert not b.is_current(queued), "never sent: it would only be refused"
    b.created(sent, items(*sent.keys), {}, partial=False)  # the one sent answers late
    # Both ids are deleted (DELETE is fire-and-forget): the late one may exist upstream.
    assert b.held == {} and b.actions(0.0) == [Delete((sent.operation_id, queued.operation_id))]
    b.want({"a", "b", "c", "d"})
    again = of(Create, b.actions(0.0))
    assert sorted(k for c in again for k in c.keys) == ["a", "b", "c", "d"]
    assert not {c.operation_id for c in again} & {sent.operation_id, queued.operation_id}
    for create in again:
        b.created(create, items(*create.keys), {}, partial=False)
    assert held_exactly_once(b, {"a", "b", "c", "d"})


async def test_the_window_bounds_how_many_run_at_once_and_runs_each_item_once():
    import asyncio

    from statsbridge.subscription_work import run_window

    state = {"now": 0, "peak": 0}
    done = []

    async def run(item):
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.001 * (item % 3))
        done.append(item)
        state["now"] -= 1

    await run_window(range(20), run, 4)
    assert sorted(done) == list(range(20)) and state["peak"] == 4
    state["peak"] = 0
    await run_window([1, 2], run, 8)
    assert state["peak"] == 2
    await run_window([], run, 8)
