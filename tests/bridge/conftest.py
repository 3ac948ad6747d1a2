from tests.live_fixtures import fresh_live_state  # noqa: F401
