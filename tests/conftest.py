pytest_plugins = ["tests.fixtures_simulator"]
