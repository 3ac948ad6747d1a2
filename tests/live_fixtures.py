"""Fixtures shared by the bridge and consumer tests (imported by their conftest files)."""

import pytest
from channels.layers import channel_layers
from django.core.cache import cache

FAST_BRIDGE = {
    "FRAME_FLOOR_SECONDS": 0.01,
    # No CPU budget: the test process (bridge, sockets, simulator and test in one) is busy by
    # design, and a floor grown by it would make frame counts depend on the machine's load.
    # tests/bridge/test_cpu_budget.py drives the budget with injected CPU time.
    "FRAME_CPU_BUDGET": 0.0,
    "HEARTBEAT_SECONDS": 0.2,
    "CONFIG_POLL_SECONDS": 0.2,
    "LEASE_SECONDS": 1.5,
    "SUBSCRIPTION_BATCH_SIZE": 3,
    "CLIENT_FRAMES_PER_SECOND": 5.0,
}


@pytest.fixture(autouse=True)
def fresh_live_state(settings):
    """Fast bridge timings, an empty cache and a new in-memory channel layer per test."""
    settings.BRIDGE = {**settings.BRIDGE, **FAST_BRIDGE}
    cache.clear()
    channel_layers.backends.clear()
    yield
    cache.clear()
    channel_layers.backends.clear()
