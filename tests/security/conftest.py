"""Fixtures of the security tests: the demo dashboards from the simulator's catalogue."""

import pytest
from django.core.cache import cache

from tests.dashboard.conftest import catalog, demo  # noqa: F401  (reused fixtures)


@pytest.fixture(autouse=True)
def empty_cache():
    """No values or status left by another test."""
    cache.clear()
    yield
    cache.clear()
