"""Notification modes end to end: Periodical cadence, NoNotification silence, Changes and Immediate."""

import itertools
import time

from .helpers import AGENT, QUEUE, Client, control, updates_in


def custom(statistic_id: str, **definition) -> dict:
    return {"statisticId": statistic_id, "objectType": "Agent", "objectId": AGENT,
            "definition": {"category": "CurrentTime", "subject": "AgentStatus", **definition}}


async def test_periodical_sends_at_its_frequency_and_nonotification_never(client: Client):
    await client.start_session()
    statistics = [custom("periodic", notificationMode="Periodical", notificationFrequency=0.5),
                  custom("silent", notificationMode="NoNotification"),
                  {"statisticId": "calm", "objectType": "Queue", "objectId": QUEUE,
                   "definition": {"category": "CurrentNumber", "mainMask": "CallWait", "notificationMode": "Periodical",
                                  "notificationFrequency": 0.5}}]
    started = time.monotonic()
    status, _ = await client.subscribe_statistics(statistics)
    assert status == 200
    messages = await client.collect(lambda got: sum(i["statisticId"] == "calm" for i in updates_in(got)) >= 4,
                                    timeout=6)
    elapsed = time.monotonic() - started
    items = updates_in(messages)
    assert not [i for i in items if i["statisticId"] == "silent"]
    periodic = [i for i in items if i["statisticId"] == "periodic"]
    calm = [i for i in items if i["statisticId"] == "calm"]
    # Every 0.5 s whether or not the value moved: never more often than the period allows.
    assert len(calm) <= elapsed / 0.5 + 1 and len(periodic) >= 3
    stamps = [i["timestamp"] for i in calm]
    assert all(b - a >= 450 for a, b in itertools.pairwise(stamps)), stamps


async def test_changes_and_immediate_send_only_changed_values(client: Client):
    await client.start_session()
    statistics = [custom("changes", notificationMode="Changes"), custom("immediate", notificationMode="Immediate"),
                  custom("coarse", notificationMode="Changes", insensitivity=2)]
    assert (await client.subscribe_statistics(statistics))[0] == 200
    messages = await client.collect(lambda got: sum(i["statisticId"] == "coarse" for i in updates_in(got)) >= 1,
                                    timeout=8)
    items = updates_in(messages)
    for statistic_id in ("changes", "immediate"):
        values = [i["value"]["value"] for i in items if i["statisticId"] == statistic_id]
        assert values and all(a != b for a, b in itertools.pairwise(values)), (statistic_id, values)
    fine = [i["value"]["value"] for i in items if i["statisticId"] == "changes"]
    coarse = [i["value"]["value"] for i in items if i["statisticId"] == "coarse"]
    assert len(coarse) < len(fine) and all(abs(b - a) > 2 or b < a for a, b in itertools.pairwise(coarse))


async def test_values_endpoint_tracks_what_was_notified(client: Client):
    await client.start_session()
    await client.subscribe_statistics([custom("t", notificationMode="Changes")], operation_id="track")
    messages = await client.collect(lambda got: len(updates_in(got)) >= 2)
    last = updates_in(messages)[-1]
    values = (await control(client, "GET", "values"))[1]["values"]
    assert values[0]["value"]["value"] >= last["value"]["value"]
