"""Fixtures for the dashboard, security and property tests: the demo seeded from the real
simulator catalogue (registered in tests/conftest.py)."""

import pytest

from dashboard.seeding import seed_demo
from statsbridge.simulator.catalog import catalog_reply
from statsbridge.simulator.model import ContactCentre


@pytest.fixture
def catalog() -> dict:
    """The simulator's catalogue, as GET /simulator/catalog lists it."""
    return catalog_reply(ContactCentre(seed=7, agents=30, queues=4))


@pytest.fixture
def demo(db, catalog):
    """The three demo dashboards, the group drill-down boards, the wall display and the demo login."""
    return seed_demo(catalog)

