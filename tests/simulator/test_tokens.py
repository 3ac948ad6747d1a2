"""The token store behind the Authentication API."""

from statsbridge.simulator.tokens import TokenStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tokens_expire_after_ttl():
    clock = Clock()
    store = TokenStore(60, clock)
    grant = store.issue("c", "t\\u")
    assert store.lookup(grant.access_token) is grant
    clock.now += 59.9
    assert store.lookup(grant.access_token) is grant
    clock.now += 0.2
    assert store.lookup(grant.access_token) is None


def test_refresh_is_single_use_and_bound_to_client():
    store = TokenStore(60, Clock())
    grant = store.issue("c", "t\\u")
    assert store.refresh(grant.refresh_token, "other") is None
    renewed = store.refresh(grant.refresh_token, "c")
    assert renewed.username == "t\\u" and renewed.access_token != grant.access_token
    assert store.refresh(grant.refresh_token, "c") is None


def test_sign_out_one_or_all_and_revoke_all():
    store = TokenStore(60, Clock())
    a, b, other = store.issue("c", "t\\u"), store.issue("c", "t\\u"), store.issue("c", None)
    assert store.sign_out(a, everywhere=False) == 1
    assert store.lookup(a.access_token) is None and store.lookup(b.access_token) is b
    assert store.sign_out(b, everywhere=True) == 1
    assert store.lookup(other.access_token) is other
    fresh = store.issue("c", "t\\u")
    assert store.revoke_all(include_refresh=False) == 2
    assert store.lookup(fresh.access_token) is None
    assert store.refresh(fresh.refresh_token, "c") is not None
    assert store.revoke_all(include_refresh=True) == 1
    assert store.refresh(store.issue("c", "x").refresh_token, "c") is not None


def test_secrets_stay_out_of_repr():
    grant = TokenStore(60, Clock()).issue("c", "t\\u")
    assert grant.access_token not in repr(grant) and grant.refresh_token not in repr(grant)
