"""Options of the fault matrix: ``--fault-repeats=N`` (long mode) and ``--fault-cut-seconds``."""

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("fault matrix")
    group.addoption("--fault-repeats", type=int, default=None,
                    help="Repeat every fault N times (long mode: 100); default: each fault's CI count.")
    group.addoption("--fault-cut-seconds", type=float, default=30.0, help="How long the network cut lasts.")


@pytest.fixture
def fault_options(request) -> dict:
    """The matrix options given on the command line."""
    return {"repeats": request.config.getoption("--fault-repeats"),
            "cut_seconds": request.config.getoption("--fault-cut-seconds")}


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability: the fault matrix (real processes, Redis, Chromium)")
