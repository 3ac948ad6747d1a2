"""Bodies nested deeper than Python's JSON parser goes (it raises RecursionError, not
ValueError) are malformed input like any other non-JSON body, wherever they arrive."""

import pytest

from statsbridge.client_frames import parse_client_frame
from statsbridge.notifications import is_service_message, service_state
from statsbridge.upstream.auth import TokenProvider
from statsbridge.upstream.errors import StatisticsApiError, TransientError
from statsbridge.upstream.statistics import StatisticsClient
from tests.upstream.scripted_server import Scripted
from tests.upstream.token_endpoint import TOKEN, counting_issuer, credentials

DEEP = "[" * 100_000 + "]" * 100_000


def deep_list(depth: int) -> list:
    nested: list = []
    for _ in range(depth):
        nested = [nested]
    return nested


async def test_a_deeply_nested_token_reply_is_a_transient_error(server, session):
    server.queue("POST", TOKEN, Scripted(text=DEEP))
    with pytest.raises(TransientError, match="unusable reply"):
        await TokenProvider(session, credentials(server)).get()


async def test_a_deeply_nested_statistics_reply_is_an_api_error(server, session):
    server.default("POST", TOKEN, counting_issuer())
    server.queue("GET", "/statistics/v3/statistic-values/X", Scripted(text=DEEP))
    client = StatisticsClient(session, server.url + "/", TokenProvider(session, credentials(server)))
    with pytest.raises(StatisticsApiError, match="not a Statistics envelope") as raised:
        await client.get_statistic_value("X", "a", "Agent")
    assert raised.value.http_status == 200


def test_a_deeply_nested_websocket_frame_is_refused_as_bad_json():
    depth = 2000  # within the 4 KB frame limit, beyond the parser's recursion limit
    frame, problem = parse_client_frame("[" * depth + "]" * depth, None)
    assert frame is None and problem["code"] == "bad_json", problem


def test_a_deeply_nested_message_type_is_not_a_service_message():
    data = {"messageType": deep_list(100_000), "serviceState": "UNAVAILABLE"}
    assert not is_service_message("/statistics/v3/updates", data)
    assert service_state("/statistics/v3/updates", data) is None
    assert service_state("/statistics/v3/updates", {"messageType": "ServiceStateChange",
                                                    "serviceState": "unavailable"}) == "UNAVAILABLE"
