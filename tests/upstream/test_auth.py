"""TokenProvider against a scripted token endpoint on 127.0.0.1."""

import asyncio
import base64
import logging

import pytest

from statsbridge.upstream.auth import Credentials, TokenProvider
from statsbridge.upstream.backoff import Backoff
from statsbridge.upstream.errors import (
    BadApiKey,
    BadClientCredentials,
    BadUserCredentials,
    ConfigurationError,
    TransientError,
)
from tests.upstream.scripted_server import Scripted
from tests.upstream.token_endpoint import API_KEY, PASSWORD, SECRET, TOKEN, counting_issuer, credentials, issued


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


async def test_client_credentials_grant_sends_basic_auth_api_key_and_caches(server, session):
    server.queue("POST", TOKEN, issued(1))
    tokens = TokenProvider(session, credentials(server))
    assert await tokens.get() == "token-1"
    assert await tokens.get() == "token-1"
    [request] = server.received("POST", TOKEN)
    assert request.form() == {"grant_type": "client_credentials", "scope": "*"}
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"cid:{SECRET}".encode()).decode()
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_password_grant_when_user_and_password_are_set(server, session):
    server.queue("POST", TOKEN, issued(1))
    tokens = TokenProvider(session, credentials(server, user=True))
    assert await tokens.get() == "token-1"
    assert server.received("POST", TOKEN)[0].form() == {
        "grant_type": "password", "username": "tenant\\alice", "password": PASSWORD,
        "client_id": "cid", "scope": "*"}


async def test_refreshes_ahead_of_expiry_with_the_refresh_token(server, session):
    clock = Clock()
    server.queue("POST", TOKEN, issued(1, expires_in=100), issued(2, expires_in=100))
    tokens = TokenProvider(session, credentials(server), refresh_fraction=0.8, clock=clock,
                           wall_clock=lambda: 5000.0)
    assert await tokens.get() == "token-1"
    assert tokens.expires_at == 5100.0
    clock.now += 79
    assert await tokens.get() == "token-1"
    clock.now += 2  # past 80 % of the lifetime
    assert await tokens.get() == "token-2"
    refresh = server.received("POST", TOKEN)[1].form()
    assert refresh == {"grant_type": "refresh_token", "refresh_token": "refresh-1", "client_id": "cid", "scope": "*"}


async def test_rejected_refresh_token_falls_back_to_the_primary_grant(server, session):
    clock = Clock()
    server.queue("POST", TOKEN, issued(1), Scripted(status=400, json={"error": "invalid_grant"}), issued(2))
    tokens = TokenProvider(session, credentials(server, user=True), clock=clock)
    await tokens.get()
    clock.now += 1000
    assert await tokens.get() == "token-2"
    grants = [r.form()["grant_type"] for r in server.received("POST", TOKEN)]
    assert grants == ["password", "refresh_token", "password"]


REFUSALS = {
    "401 envelope": Scripted(status=401, json={"status": {"code": 401, "message": "Invalid refresh token"}}),
    "400 envelope": Scripted(status=400, json={"status": {"code": 400, "message": "Invalid refresh token"}}),
    "403 envelope": Scripted(status=403, json={"status": {"code": 403, "message": "Forbidden"}}),
    "401 OAuth": Scripted(status=401, json={"error": "invalid_token", "error_description": "Token expired"}),
    "400 OAuth": Scripted(status=400, json={"error": "invalid_grant", "error_description": "Invalid refresh token"}),
    "404 no body": Scripted(status=404, text=""),
}


@pytest.mark.parametrize("refusal", list(REFUSALS), ids=list(REFUSALS))
@pytest.mark.parametrize("user", [True, False], ids=["password", "client_credentials"])
async def test_a_refused_refresh_in_any_form_logs_in_again_with_the_configured_grant(server, session, refusal, user):
    clock = Clock()
    server.queue("POST", TOKEN, issued(1), REFUSALS[refusal], issued(2))
    tokens = TokenProvider(session, credentials(server, user=user), clock=clock)
    assert await tokens.get() == "token-1"
    clock.now += 81  # refresh due ahead of expiry
    assert await tokens.get() == "token-2"
    configured = "password" if user else "client_credentials"
    assert list(tokens.grants_sent) == [configured, "refresh_token", configured]
    assert tokens.last_error is None


async def test_a_refused_refresh_token_is_never_sent_again(server, session):
    clock = Clock()
    server.queue("POST", TOKEN, issued(1), REFUSALS["401 envelope"], Scripted(status=503, text="busy"), issued(2))
    tokens = TokenProvider(session, credentials(server, user=True), clock=clock)
    await tokens.get()
    clock.now += 81
    # The fresh login failed transiently: the still-valid token keeps serving meanwhile.
    assert await tokens.get() == "token-1"
    clock.now += 1
    assert await tokens.get() == "token-2"
    assert list(tokens.grants_sent) == ["password", "refresh_token", "password", "password"]


async def test_a_still_valid_token_keeps_serving_while_the_login_is_refused(server, session, caplog):
    clock = Clock()
    server.queue("POST", TOKEN, issued(1, expires_in=100), REFUSALS["400 OAuth"],
                 Scripted(status=400, json={"error": "invalid_grant", "error_description": "Bad credentials"}))
    tokens = TokenProvider(session, credentials(server, user=True), clock=clock, backoff=Backoff(base=5.0, cap=5.0))
    caplog.set_level(logging.INFO, logger="statsbridge.upstream.auth")
    await tokens.get()
    clock.now += 81
    assert await tokens.get() == "token-1", "the password changed, but the token is still good for 19 s"
    assert isinstance(tokens.last_error, BadUserCredentials)
    clock.now += 2
    assert await tokens.get() == "token-1"  # backing off: no request, the token still serves
    assert len(server.received("POST", TOKEN)) == 3
    clock.now += 20  # expired: now the configuration error is what the caller gets
    server.default("POST", TOKEN, lambda recorded: Scripted(status=400, json={"error": "invalid_grant"}))
    with pytest.raises(BadUserCredentials):
        await tokens.get()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "GENESYS_PASSWORD" in errors[0].getMessage()


async def test_a_token_ended_early_is_replaced_by_one_shared_grant(server, session):
    server.default("POST", TOKEN, counting_issuer())
    tokens = TokenProvider(session, credentials(server, user=True))
    old = await tokens.get()
    # The server cut the token short (a 401 long before expires_in): every caller that saw it
    # invalidates it, and all of them share one new grant.
    for _ in range(5):
        tokens.invalidate(old)
    results = await asyncio.gather(*(tokens.get() for _ in range(10)))
    assert set(results) == {"token-2"}
    assert list(tokens.grants_sent) == ["password", "refresh_token"]


async def test_concurrent_callers_after_a_401_share_one_refresh(server, session):
    server.default("POST", TOKEN, counting_issuer())
    tokens = TokenProvider(session, credentials(server))
    old = await tokens.get()
    tokens.invalidate(old)
    results = await asyncio.gather(*(tokens.get() for _ in range(20)))
    assert set(results) == {"token-2"}
    assert len(server.received("POST", TOKEN)) == 2
    # A late 401 seen with the old token does not throw away the new one.
    tokens.invalidate(old)
    assert await tokens.get() == "token-2"
    assert len(server.received("POST", TOKEN)) == 2


async def test_a_cancelled_caller_does_not_cancel_the_shared_refresh(server, session):
    server.default("POST", TOKEN, counting_issuer())
    tokens = TokenProvider(session, credentials(server))
    impatient = asyncio.ensure_future(tokens.get())
    patient = asyncio.ensure_future(tokens.get())
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == "token-1"


@pytest.mark.parametrize("reply, error", [
    (Scripted(status=403, json={"message": "Forbidden"}), BadApiKey),
    (Scripted(status=401, json={"error": "Unauthorized", "error_description": "Bad credentials"}),
     BadClientCredentials),
    (Scripted(status=400, json={"error": "invalid_grant", "error_description": "Bad credentials"}),
     BadUserCredentials),
    (Scripted(status=400, json={"error": "unsupported_grant_type"}), ConfigurationError),
    (Scripted(status=401, json={"status": {"code": 401, "message": "Unauthorized"}}), BadClientCredentials),
    (Scripted(status=400, json={"status": {"code": 400, "message": "Bad credentials"}}), BadUserCredentials),
    (Scripted(status=403, json={"status": {"code": 403, "message": "Client not allowed"}}), ConfigurationError),
])
async def test_configuration_errors_are_typed_reported_once_and_backed_off(server, session, caplog, reply, error):
    clock = Clock()
    server.default("POST", TOKEN, lambda recorded: reply)
    tokens = TokenProvider(session, credentials(server, user=True), clock=clock,
                           backoff=Backoff(base=10.0, cap=40.0))
    caplog.set_level(logging.DEBUG, logger="statsbridge.upstream.auth")
    with pytest.raises(error) as raised:
        await tokens.get()
    assert type(raised.value) is error
    for _ in range(5):  # within the backoff period: no new request, same error
        with pytest.raises(error):
            await tokens.get()
    assert len(server.received("POST", TOKEN)) == 1
    assert tokens.last_error is not None
    clock.now += 10.01  # past the longest first backoff (10 s)
    with pytest.raises(error):
        await tokens.get()
    assert len(server.received("POST", TOKEN)) == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, "a configuration error is logged once"
    everything = " ".join([str(raised.value), repr(tokens), repr(tokens._credentials)]
                          + [r.getMessage() for r in caplog.records])
    for secret in (SECRET, PASSWORD, API_KEY):
        assert secret not in everything


async def test_configuration_error_clears_once_login_works_again(server, session):
    clock = Clock()
    server.queue("POST", TOKEN, Scripted(status=401, json={"error": "Unauthorized"}), issued(1))
    tokens = TokenProvider(session, credentials(server), clock=clock, backoff=Backoff(base=1.0, cap=1.0))
    with pytest.raises(BadClientCredentials):
        await tokens.get()
    clock.now += 1.01
    assert await tokens.get() == "token-1"
    assert tokens.last_error is None


async def test_transient_failures_raise_but_an_unexpired_token_keeps_working(server, session):
    clock = Clock()
    server.queue("POST", TOKEN, issued(1, expires_in=100))
    server.default("POST", TOKEN, lambda recorded: Scripted(status=503, text="<html>busy</html>"))
    tokens = TokenProvider(session, credentials(server), clock=clock)
    await tokens.get()
    clock.now += 90  # refresh due, but the token is still valid for 10 s
    assert await tokens.get() == "token-1"
    clock.now += 11  # expired: nothing usable left
    with pytest.raises(TransientError, match="HTTP 503"):
        await tokens.get()
    tokens_after_401 = TokenProvider(session, credentials(server), clock=clock)
    with pytest.raises(TransientError):
        await tokens_after_401.get()


@pytest.mark.parametrize("body", [
    {"token_type": "bearer"},
    {"access_token": "", "expires_in": 10},
    {"access_token": "x", "expires_in": "10"},
    {"access_token": "x", "expires_in": True},
    {"access_token": "x", "expires_in": 0},
    ["not", "an", "object"],
])
async def test_unusable_token_replies_are_transient_errors(server, session, body):
    server.queue("POST", TOKEN, Scripted(json=body))
    with pytest.raises(TransientError, match="unusable reply"):
        await TokenProvider(session, credentials(server)).get()


async def test_unreachable_token_endpoint_is_a_transient_error(session):
    tokens = TokenProvider(session, Credentials(api_url="http://127.0.0.1:9", client_id="c", client_secret=SECRET))
    with pytest.raises(TransientError, match="token request failed"):
        await tokens.get()


def test_credentials_from_settings_and_grant_choice():
    creds = Credentials.from_settings({"API_URL": "http://x/", "CLIENT_ID": "c", "CLIENT_SECRET": SECRET,
                                       "USERNAME": "t\\u", "PASSWORD": PASSWORD})
    assert creds.api_url == "http://x" and creds.grant_type == "password"
    assert SECRET not in repr(creds) and PASSWORD not in repr(creds)
    assert Credentials("http://x", "c", SECRET, username="t\\u").grant_type == "client_credentials"
    with pytest.raises(ValueError):
        TokenProvider(None, creds, refresh_fraction=0)
