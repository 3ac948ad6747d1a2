"""Acknowledged rounds across processes (``statsbridge.acks``): the pure tally and ledger, no network."""

from statsbridge.acks import ABSENT_AFTER_MISSED_ROUNDS, ACK_MESSAGE, AckTally, RoundLedger, ack_message


def test_a_tally_gathers_hand_backs_per_reply_channel_and_round_into_one_count_each():
    tally = AckTally()
    assert tally.add(["bridge.acks!a", 1]) is True, "the first hand-back of a burst schedules a flush"
    assert tally.add(["bridge.acks!a", 1]) is False
    assert tally.add(("bridge.acks!a", 2)) is False
    assert tally.add(["bridge.acks!b", 1]) is False, "another bridge's round is counted apart"
    assert sorted(tally.take()) == [("bridge.acks!a", 1, 2), ("bridge.acks!a", 2, 1), ("bridge.acks!b", 1, 1)]
    assert tally.take() == [], "taken once"
    assert tally.add(["bridge.acks!a", 1]) is True, "a new burst schedules again"
    assert tally.added == 5


def test_an_ack_message_names_its_round_and_count():
    assert ack_message(7, 3, "asgispecific.w1!") == {"type": ACK_MESSAGE, "round": 7, "count": 3,
                                                      "from": "asgispecific.w1!"}


def test_a_round_ends_once_every_socket_it_reached_was_acknowledged_across_processes():
    ledger = RoundLedger()
    round_ = ledger.open(dashboard_id=4, now=10.0)
    assert ledger.seal(round_, {"A": 2, "B": 1}) is False
    assert ledger.ack(round_.id, 2, "A") is None, "one web process acknowledged its two sockets"
    assert ledger.ack(round_.id, 1, "B") is round_, "the other web process's socket ends the round"
    assert round_.dashboard_id == 4 and ledger.rounds == {} and ledger.by_ack == 1
    assert ledger.ack(round_.id, 1, "B") is None, "a late or repeated ack changes nothing"


def test_acks_arriving_before_group_send_returned_are_kept_until_the_round_is_sealed():
    ledger = RoundLedger()
    round_ = ledger.open(1, now=0.0)
    assert ledger.ack(round_.id, 1, "A") is None, "not sealed: how many to expect is unknown yet"
    assert ledger.ack(round_.id, 1, "A") is None
    assert ledger.seal(round_, {"A": 2}) is True
    assert ledger.by_ack == 1


def test_one_process_acking_more_does_not_stand_in_for_another():
    ledger = RoundLedger()
    round_ = ledger.open(1, now=0.0)
    ledger.seal(round_, {"A": 1, "B": 1})
    assert ledger.ack(round_.id, 2, "A") is None, "B's socket has not acked"
    assert ledger.ack(round_.id, 1, "B") is round_


def test_a_round_to_nobody_ends_when_sealed_and_rounds_get_their_own_ids():
    ledger = RoundLedger()
    first, second = ledger.open(1, now=0.0), ledger.open(1, now=0.0)
    assert first.id != second.id
    assert ledger.seal(first, {}) is True
    assert ledger.ack(first.id, 1, "A") is None and ledger.ack(second.id, 1, "A") is None, "second not sealed yet"
    assert ledger.seal(second, {"A": 1}) is True


def test_unfinished_rounds_are_dropped_after_the_timeout_and_their_late_acks_ignored():
    ledger = RoundLedger()
    stuck = ledger.open(1, now=10.0)
    ledger.seal(stuck, {"A": 2})
    ledger.ack(stuck.id, 1, "A")  # a socket closed with the frame queued: the second never comes
    young = ledger.open(2, now=10.2)
    assert ledger.prune(now=10.24, timeout=0.25) == 0
    assert ledger.prune(now=10.25, timeout=0.25) == 1
    assert list(ledger.rounds) == [young.id] and ledger.by_timeout == 1
    assert ledger.ack(stuck.id, 1, "A") is None, "a late ack of a dropped round ends nothing"
    assert ledger.ack("garbage", 1, "A") is None and ledger.ack(young.id, None, "A") is None
    assert ledger.ack(young.id, 1, None) is None
    assert ledger.by_ack == 0


def test_a_web_process_that_stopped_acking_is_not_waited_for_until_it_acks_again():
    ledger = RoundLedger()
    now = 0.0
    for missed in range(1, ABSENT_AFTER_MISSED_ROUNDS + 1):
        assert "dead" not in ledger.absent
        round_ = ledger.open(1, now)
        ledger.seal(round_, {"alive": 1, "dead": 1})
        assert ledger.ack(round_.id, 1, "alive") is None, "the dead process is still waited for"
        now += 1.0
        ledger.prune(now, timeout=1.0)
        assert ledger.missed["dead"] == missed and "alive" not in ledger.missed
    assert ledger.absent == {"dead"}
    round_ = ledger.open(1, now)
    ledger.seal(round_, {"alive": 1, "dead": 1})
    assert ledger.ack(round_.id, 1, "alive") is round_, "the absent process is not waited for"
    ledger.ack(12345, 1, "dead")  # any ack, even of a forgotten round: it is back
    assert ledger.absent == set() and "dead" not in ledger.missed
    round_ = ledger.open(1, now)
    ledger.seal(round_, {"alive": 1, "dead": 1})
    assert ledger.ack(round_.id, 1, "alive") is None, "waited for again"
