"""Fixtures of the upstream tests: a scripted server and the shared client session."""

import pytest

from statsbridge.upstream.http import create_session
from tests.upstream.scripted_server import ScriptedServer

API_KEY = "test-api-key-1234"


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
