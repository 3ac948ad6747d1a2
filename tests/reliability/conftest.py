"""The fault matrix's options (declared in tests/conftest.py) and collection."""

import pytest


@pytest.fixture
def fault_options(request) -> dict:
    """The matrix options given on the command line."""
    return {"repeats": request.config.getoption("--fault-repeats"),
            "cut_seconds": request.config.getoption("--fault-cut-seconds")}


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability: the fault matrix (real processes, Redis, Chromium)")


def pytest_collection_modifyitems(config, items):
    """Deselect matrix rows a mode cannot have (a separate bridge process to kill in the
    embedded mode): they are not tests that could run, so they are not skipped either."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        fault = callspec.params.get("fault") if callspec else None
        mode = callspec.params.get("matrix") if callspec else None
        if fault is not None and mode is not None and mode not in fault.modes:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
