"""Fixtures of the security tests: an empty cache around each (the demo dashboards are
tests/fixtures_dashboard.py's)."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def empty_cache():
    """No values or status left by another test."""
    cache.clear()
    yield
    cache.clear()
