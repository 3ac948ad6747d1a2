pytest_plugins = ["tests.fixtures_simulator", "tests.fixtures_dashboard"]


def pytest_addoption(parser):
    group = parser.getgroup("fault matrix")
    group.addoption("--fault-repeats", type=int, default=None,
                    help="Repeat every fault N times (long mode: 100); default: each fault's CI count.")
    group.addoption("--fault-cut-seconds", type=float, default=30.0, help="How long the network cut lasts.")
