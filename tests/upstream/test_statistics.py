"""StatisticsClient against a scripted Statistics API on 127.0.0.1."""

import pytest

from statsbridge.upstream.auth import Credentials, TokenProvider
from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.errors import AuthenticationError, BadApiKey, StatisticsApiError, TransientError
from statsbridge.upstream.statistics import StatisticsClient, decode_envelope
from tests.upstream.scripted_server import Scripted
from tests.upstream.token_endpoint import API_KEY, TOKEN, counting_issuer

BASE = "/statistics/v3"


def ok(data, code=0, errors=None):
    body = {"status": {"code": code, "message": "OK"}, "data": data, "path": "/x"}
    if errors is not None:
        body["errors"] = errors
    return Scripted(json=body)


class RecordingSleep:
    """Records the backoff delays instead of waiting them out."""

    def __init__(self):
        self.delays = []

    async def __call__(self, delay):
        self.delays.append(delay)


@pytest.fixture
def client_factory(server, session):
    server.default("POST", TOKEN, counting_issuer())

    def make(**kwargs):
        tokens = TokenProvider(session, Credentials(server.url, "cid", "secret"))
        kwargs.setdefault("sleep", RecordingSleep())
        return StatisticsClient(session, server.url + "/", tokens, **kwargs)
    return make


def stat(n):
    return {"statisticId": f"s{n}", "objectId": f"agent{n}", "objectType": "Agent", "name": "CurrentAgentState"}


async def test_create_subscription_sends_the_documented_request(server, client_factory):
    server.default("POST", f"{BASE}/subscriptions",
                   lambda r: ok({"operationId": r.json()["operationId"], "subscriptionId": r.json()["operationId"],
                                 "statistics": [{"statisticId": "s1", "value": {"a": 1}, "timestamp": 5}]}))
    client = client_factory()
    result = await client.create_subscription([stat(1)], operation_id="op-1", verbose="OFF")
    assert result.code == 0 and not result.partial
    assert result.data["subscriptionId"] == "op-1"
    [request] = server.received("POST", f"{BASE}/subscriptions")
    assert request.json() == {"operationId": "op-1", "data": {"statistics": [stat(1)]}}
    assert request.query == {"verbose": "OFF"}
    assert request.headers["Authorization"] == "Bearer token-1"
    assert request.headers["x-api-key"] == API_KEY


async def test_partial_success_returns_what_worked_and_the_item_errors(server, client_factory):
    server.queue("POST", f"{BASE}/subscriptions", ok(
        {"subscriptionId": "x", "statistics": [{"statisticId": "s1"}]}, code=2,
        errors=[{"status": {"code": 11, "message": "Unknown object", "detail": {"statisticId": "s2"}}},
                "garbage"]))
    result = await client_factory().create_subscription([stat(1), stat(2)])
    assert result.partial
    assert result.data["statistics"] == [{"statisticId": "s1"}]
    assert [(e.code, e.message) for e in result.errors] == [(11, "Unknown object"), (None, "malformed error item")]
    assert result.errors[0].detail == {"statisticId": "s2"}


async def test_error_codes_raise_typed_errors_with_code_message_and_path(server, client_factory):
    server.queue("GET", f"{BASE}/statistic-values/Bad", Scripted(
        status=400, json={"status": {"code": 3, "message": "Invalid statistic"}, "path": "/x"}))
    with pytest.raises(StatisticsApiError) as raised:
        await client_factory().get_statistic_value("Bad", "a", "Agent")
    error = raised.value
    assert (error.code, error.message, error.path, error.http_status) == (
        3, "Invalid statistic", f"{BASE}/statistic-values/Bad", 400)
    assert len(server.received("GET", f"{BASE}/statistic-values/Bad")) == 1, "4xx is not retried"


async def test_503_504_and_refused_connections_are_retried_with_capped_backoff(server, client_factory):
    busy = Scripted(status=503, text="<html><body>Service Unavailable</body></html>")
    server.queue("DELETE", f"{BASE}/subscriptions/s-1", busy, Scripted(status=504, text="timeout"), busy, ok({}))
    client = client_factory(backoff=Backoff(base=1.0, cap=2.0))
    result = await client.delete_subscription("s-1")
    assert result.code == 0
    assert len(server.received("DELETE", f"{BASE}/subscriptions/s-1")) == 4
    delays = client._sleep.delays
    assert len(delays) == 3 and all(0.5 <= d <= 2.0 for d in delays)


async def test_retries_give_up_after_the_configured_attempts(server, client_factory):
    server.default("GET", f"{BASE}/statistic-values/X", lambda r: Scripted(status=503, text="busy"))
    client = client_factory(attempts=3)
    with pytest.raises(TransientError, match="HTTP 503"):
        await client.get_statistic_value("X", "a", "Agent")
    assert len(server.received("GET", f"{BASE}/statistic-values/X")) == 3


async def test_500_is_not_retried(server, client_factory):
    server.default("GET", f"{BASE}/statistic-values/X",
                   lambda r: Scripted(status=500, json={"status": {"code": 500, "message": "boom"}}))
    with pytest.raises(StatisticsApiError, match="boom"):
        await client_factory().get_statistic_value("X", "a", "Agent")
    assert len(server.received("GET", f"{BASE}/statistic-values/X")) == 1


async def test_connection_refused_is_transient(session):
    class FixedTokens:
        async def get(self):
            return "t"
    client = StatisticsClient(session, "http://127.0.0.1:9", FixedTokens(), attempts=2, sleep=RecordingSleep())
    with pytest.raises(TransientError):
        await client.get_statistic_value("X", "a", "Agent")


async def test_401_gets_a_new_token_and_retries_once(server, client_factory):
    server.queue("GET", f"{BASE}/statistic-values/X", Scripted(status=401, json={}),
                 ok({"statistic": {"value": 1}}))
    result = await client_factory().get_statistic_value("X", "a", "Agent")
    assert result.data == {"statistic": {"value": 1}}
    auth = [r.headers["Authorization"] for r in server.received("GET", f"{BASE}/statistic-values/X")]
    assert auth == ["Bearer token-1", "Bearer token-2"]


async def test_401_with_a_new_token_too_is_an_authentication_error(server, client_factory):
    server.default("GET", f"{BASE}/statistic-values/X", lambda r: Scripted(status=401, json={}))
    with pytest.raises(AuthenticationError, match="HTTP 401 even with a new token"):
        await client_factory().get_statistic_value("X", "a", "Agent")
    assert len(server.received("GET", f"{BASE}/statistic-values/X")) == 2


async def test_403_is_a_bad_api_key(server, client_factory):
    server.queue("POST", f"{BASE}/operations/get-statistic-ex", Scripted(status=403, json={"message": "Forbidden"}))
    with pytest.raises(BadApiKey, match="API key was rejected"):
        await client_factory().get_statistic_ex([{"name": "n", "objectId": "o", "objectType": "Agent"}])


async def test_403_in_the_envelope_is_an_ordinary_error_answer(server, client_factory):
    server.queue("POST", f"{BASE}/subscriptions", Scripted(status=403, json={
        "status": {"code": 403, "message": "Subscription limit reached"}}))
    with pytest.raises(StatisticsApiError) as raised:
        await client_factory().create_subscription([stat(1)])
    assert not isinstance(raised.value, BadApiKey)
    assert (raised.value.http_status, raised.value.code, raised.value.message) == (403, 403, "Subscription limit reached")


async def test_peek_sends_statistic_ids_comma_joined_or_not_at_all(server, client_factory):
    server.default("GET", f"{BASE}/subscriptions/sub-1/statistic-values", lambda r: ok({"statistics": []}))
    client = client_factory()
    await client.get_subscription_values("sub-1", ["a", "b"])
    await client.get_subscription_values("sub-1")
    requests = server.received("GET", f"{BASE}/subscriptions/sub-1/statistic-values")
    assert [r.query for r in requests] == [{"verbose": "INFO", "statisticIds": "a,b"}, {"verbose": "INFO"}]


async def test_get_statistic_ex_and_value_requests(server, client_factory):
    server.default("POST", f"{BASE}/operations/get-statistic-ex", lambda r: ok({"statistics": []}))
    server.default("GET", f"{BASE}/statistic-values/TotalCalls", lambda r: ok({"statistic": {}}))
    client = client_factory()
    items = [{"name": "n", "objectId": "o", "objectType": "Agent"}]
    await client.get_statistic_ex(items)
    await client.get_statistic_value("TotalCalls", "queue 1", "Queue")
    assert server.received("POST", f"{BASE}/operations/get-statistic-ex")[0].json() == {"data": {"statistics": items}}
    assert server.received("GET", f"{BASE}/statistic-values/TotalCalls")[0].query == {
        "objectId": "queue 1", "objectType": "Queue"}


async def test_cookies_from_an_ip_address_host_are_kept_and_sent_back(server, client_factory):
    server.queue("GET", f"{BASE}/statistic-values/X",
                 Scripted(json={"status": {"code": 0}, "data": {}},
                          headers={"Set-Cookie": "STATISTICS_SESSIONID=abc123; Path=/"}),
                 ok({}))
    client = client_factory()
    await client.get_statistic_value("X", "a", "Agent")
    await client.get_statistic_value("X", "a", "Agent")
    assert server.received("GET", f"{BASE}/statistic-values/X")[1].cookies == {"STATISTICS_SESSIONID": "abc123"}


@pytest.mark.parametrize("body, message", [
    (None, "not a Statistics envelope"),
    ({"data": {}}, "not a Statistics envelope"),
    ({"status": {"code": "0"}}, "no integer status.code"),
    ({"status": {"code": True}}, "no integer status.code"),
    ({"status": {"code": 0}, "data": [1]}, "data is not an object"),
])
def test_decode_envelope_rejects_malformed_bodies(body, message):
    with pytest.raises(StatisticsApiError, match=message):
        decode_envelope(body, path="/p")


def test_decode_envelope_accepts_async_code_and_missing_data():
    result = decode_envelope({"status": {"code": 1, "message": "accepted"}}, path="/p")
    assert (result.code, result.data, result.errors) == (1, {}, ())


async def test_non_json_success_body_is_an_api_error(server, client_factory):
    server.queue("GET", f"{BASE}/statistic-values/X", Scripted(text="<html>proxy login page</html>"))
    with pytest.raises(StatisticsApiError, match="not a Statistics envelope") as raised:
        await client_factory().get_statistic_value("X", "a", "Agent")
    assert raised.value.http_status == 200


def test_client_rejects_bad_settings_and_repr_has_no_secret(session):
    with pytest.raises(ValueError):
        StatisticsClient(session, "http://x", None, attempts=0)
    assert repr(StatisticsClient(session, "http://x/", None)) == "<StatisticsClient http://x/statistics/v3>"
