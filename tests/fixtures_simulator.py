"""Reusable pytest fixtures for the Genesys simulator (registered through ``pytest_plugins``)."""

import dataclasses

import pytest

from statsbridge.simulator import SimulatorConfig, SimulatorThread, start_simulator

# Short timings so tests never wait long; everything else is the demo tenant.
FAST_TIMINGS = {
    "port": 0,
    "tick_seconds": 0.05,
    "connect_timeout_ms": 400,
    "session_expiry_seconds": 3.0,
}


def fast_config(**overrides) -> SimulatorConfig:
    """The demo tenant with test timings, plus ``overrides``."""
    return dataclasses.replace(SimulatorConfig(), **{**FAST_TIMINGS, **overrides})


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """The configuration the ``simulator`` fixtures use; override this fixture to change it."""
    return fast_config()


@pytest.fixture
async def simulator(simulator_config):
    """A running simulator (``RunningSimulator``: ``.url``, ``.config``, ``.tenant``) on a free port."""
    running = await start_simulator(simulator_config)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def simulator_thread(simulator_config):
    """A simulator on its own thread, for synchronous tests (``.url``, ``.config``)."""
    with SimulatorThread(simulator_config) as thread:
        yield thread
