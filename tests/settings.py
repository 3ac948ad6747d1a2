"""Settings for the test suite: the embedded default with a fixed test key."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-used-anywhere-else-0123456789abcdef")
os.environ.setdefault("BRIDGE_EMBEDDED", "false")

from dashboard.settings import *  # noqa: E402,F401,F403
