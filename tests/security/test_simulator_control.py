"""The simulator's control API opens only with its own key: no key, a wrong key, or the
tenant's API key get 403 and change nothing."""

import json
import urllib.error
import urllib.request

import pytest

from statsbridge.simulator import SimulatorThread
from tests.fixtures_simulator import fast_config

CONTROL_KEY = "control-key-91c3e7"
CALLS = [
    ("POST", "/simulator/service", {"state": "UNAVAILABLE"}),
    ("POST", "/simulator/forget-clients", None),
    ("POST", "/simulator/fail", {"status": 503, "count": 5, "scope": "statistics"}),
    ("POST", "/simulator/revoke-tokens", {"refresh": True}),
    ("POST", "/simulator/load", {"updates_per_second": 100}),
    ("GET", "/simulator/state", None),
    ("GET", "/simulator/values", None),
    ("GET", "/simulator/catalog", None),
]


@pytest.fixture(scope="module")
def simulator():
    with SimulatorThread(fast_config(control_key=CONTROL_KEY)) as thread:
        yield thread


def call(simulator, method, path, body=None, headers=None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(simulator.url.rstrip("/") + path, data=data, method=method,
                                     headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.parametrize("headers", [
    {}, {"x-simulator-key": "wrong"}, {"x-simulator-key": ""}, {"x-simulator-key": CONTROL_KEY.upper()},
    {"x-simulator-key": CONTROL_KEY[:-1]}, {"x-api-key": CONTROL_KEY}, {"Authorization": f"Bearer {CONTROL_KEY}"},
], ids=["none", "wrong", "empty", "upper-case", "prefix", "as-api-key", "as-bearer"])
def test_every_control_call_is_refused_without_the_key(simulator, headers):
    tenant_key = {"x-simulator-key": simulator.config.api_key}
    for extra in (headers, tenant_key):
        for method, path, body in CALLS:
            status, reply = call(simulator, method, path, body, extra)
            assert status == 403, (method, path, extra, status)
            assert CONTROL_KEY not in json.dumps(reply)
    status, state = call(simulator, "GET", "/simulator/state", headers={"x-simulator-key": CONTROL_KEY})
    assert status == 200, "the right key must open it (else the test proves nothing)"
    assert (state["serviceState"], state["faults"], state["loadUpdatesPerSecond"]) == ("AVAILABLE", {}, 0), \
        "a refused call changed the simulator"
