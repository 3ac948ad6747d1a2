"""The dashboard tests' upstream: nowhere, unless a test starts a simulator."""

import pytest


@pytest.fixture(autouse=True)
def no_upstream(settings):
    """The upstream is nowhere (a closed port), so forms that ask it about new statistics
    never reach a demo that happens to run on the default port; tests that want an
    upstream start a simulator and point at it."""
    settings.GENESYS = {**settings.GENESYS, "API_URL": "http://127.0.0.1:9"}
