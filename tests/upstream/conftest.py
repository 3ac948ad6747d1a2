"""Fixtures of the upstream tests: a scripted server, the shared client session, and upstream
clients of the simulator."""

import pytest

from statsbridge.upstream.http import create_session
from tests.upstream.scripted_server import ScriptedServer
from tests.upstream.simulated import Upstream
from tests.upstream.token_endpoint import API_KEY


@pytest.fixture
async def server():
    """A scripted HTTP server on 127.0.0.1."""
    scripted = await ScriptedServer().start()
    yield scripted
    await scripted.stop()


@pytest.fixture
async def session():
    """The long-lived shared ClientSession with the test API key."""
    shared = create_session(API_KEY)
    yield shared
    await shared.close()


@pytest.fixture
async def upstream(simulator):
    """Makes ``Upstream`` clients of the simulator (closed at the end of the test)."""
    made = []

    def make(**credential_args):
        made.append(Upstream(simulator, **credential_args))
        return made[-1]
    yield make
    for item in made:
        await item.close()
