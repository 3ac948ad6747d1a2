"""A frame shared by every viewer of a dashboard is encoded once, and always as send_json would."""

import json

from dashboard import consumers
from dashboard.consumers import EncodedFrames
from statsbridge.fanout import SharedFrame


def test_the_same_frame_object_is_encoded_once(monkeypatch):
    calls = []
    real_dumps = json.dumps
    monkeypatch.setattr(consumers.json, "dumps", lambda obj: calls.append(obj) or real_dumps(obj))
    encoded = EncodedFrames()
    frame = SharedFrame({"type": "batch", "dashboard": "floor", "seq": 3, "values": {"k": {"value": 1.5}}})
    texts = {encoded(frame) for _ in range(100)}
    assert texts == {real_dumps(frame)}
    assert len(calls) == 1


def test_equal_but_distinct_frames_each_get_their_own_text():
    encoded = EncodedFrames(size=2)
    frames = [{"type": "batch", "seq": n, "values": {"k": {"value": n}}} for n in range(10)]
    for _ in range(2):  # the second round runs after the first frames were evicted
        assert [json.loads(encoded(frame)) for frame in frames] == frames


def test_a_frame_changed_after_eviction_is_encoded_again():
    encoded = EncodedFrames(size=1)
    frame = {"type": "batch", "seq": 1}
    assert json.loads(encoded(frame))["seq"] == 1
    encoded({"type": "status", "seq": 9})  # evicts the first
    frame["seq"] = 2
    assert json.loads(encoded(frame))["seq"] == 2
