"""Fixtures of the simulator's own tests."""

import pytest

from .helpers import Client


@pytest.fixture
async def client(simulator):
    """A logged-in tenant client of the running simulator."""
    tenant_client = Client(simulator.url)
    await tenant_client.login()
    try:
        yield tenant_client
    finally:
        await tenant_client.close()


@pytest.fixture
async def make_client(simulator):
    """Factory of extra logged-in clients (closed at the end)."""
    made = []

    async def make() -> Client:
        extra = Client(simulator.url)
        await extra.login()
        made.append(extra)
        return extra

    yield make
    for extra in made:
        await extra.close()
