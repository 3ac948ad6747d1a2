"""Settings for the test suite: the embedded default with a fixed test key."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-used-anywhere-else-0123456789abcdef")
os.environ.setdefault("BRIDGE_EMBEDDED", "false")
# /metrics and the details of /readyz need it (inherited by the servers tests start).
os.environ.setdefault("METRICS_TOKEN", "test-metrics-token")

from contactboard.settings import *  # noqa: F403

# The bridge and test servers touch the database from other threads. SQLite's
# in-memory test database is shared-cache, whose table locks fail at once instead of
# waiting; a file database (WAL, busy timeout) waits like production does. One file
# per test run, so that concurrent runs in one tree never share it.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    import tempfile

    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"ccdash-test-{os.getpid()}.sqlite3")
    }
