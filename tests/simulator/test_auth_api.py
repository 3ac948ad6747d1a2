"""The simulated Authentication API: grants, errors, userinfo, ping, sign-out, revocation."""

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fixtures_simulator import fast_config

from .helpers import API_KEY, BASIC, CONTROL, Client, control, wait_until

PASSWORD_GRANT = {"grant_type": "password", "username": "demo\\supervisor", "password": "demo-password",
                  "client_id": "demo-client", "scope": "*"}


async def test_password_grant_returns_bearer_token_with_refresh(client: Client):
    response = await client.grant(**PASSWORD_GRANT)
    body = await response.json()
    assert response.status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["scope"] == "*"
    assert body["access_token"] and body["refresh_token"] and body["access_token"] != client.token
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"


async def test_client_credentials_grant_has_no_refresh_token_and_works(client: Client):
    body = await (await client.grant(grant_type="client_credentials", scope="*")).json()
    assert "refresh_token" not in body
    client.token = body["access_token"]
    response = await client.request("GET", "/auth/v3/userinfo")
    info = await response.json()
    # An application token: no Configuration Server identity (reference: CloudUserDetails).
    assert response.status == 200 and info["username"] == "demo-client" and "cmeUserName" not in info
    assert info["authorities"] == [{"name": "ROLE_CLIENT", "privileges": ["STATISTICS_READ"]}]
    status, _ = await client.subscribe_statistics(
        [{"statisticId": "w", "objectType": "Queue", "objectId": "VQ_Sales@SIP_Switch", "name": "CallsWaiting"}])
    assert status == 200


async def test_refresh_grant_rotates_and_old_refresh_token_dies(client: Client):
    first = await (await client.grant(**PASSWORD_GRANT)).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "demo-client",
               "scope": "*"}
    second = await client.grant(**refresh)
    assert second.status == 200
    assert (await second.json())["access_token"] not in (first["access_token"], client.token)
    again = await client.grant(**refresh)
    assert again.status == 400
    assert await again.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}


async def test_authorization_code_flow(client: Client):
    # The user signs in at the form /oauth/authorize shows (issue 19), then is redirected.
    response = await client.http.post(client.url + "/auth/v3/oauth/authorize", allow_redirects=False, data={
        "response_type": "code", "client_id": "demo-client", "redirect_uri": "http://app.test/cb", "state": "xyz",
        "username": "demo\\supervisor", "password": "demo-password", "action": "sign-in"})
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "app.test" and query["state"] == ["xyz"]
    code = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": "http://app.test/cb",
            "client_id": "demo-client"}
    granted = await client.grant(**code)
    assert granted.status == 200
    client.token = (await granted.json())["access_token"]
    info = await (await client.request("GET", "/auth/v3/userinfo")).json()
    assert set(info) == {"authorities", "cmeUserName", "contactCenterId", "dbid", "environmentId", "loginName",
                         "properties", "username"}, "the reference's CloudUserDetails"
    assert info["username"] == "demo\\supervisor" and info["contactCenterId"] == "demo"
    assert info["cmeUserName"] == info["loginName"] == "supervisor" and isinstance(info["dbid"], int)
    reused = await client.grant(**code)
    assert reused.status == 400 and (await reused.json())["error"] == "invalid_grant"


async def test_authorize_refuses_unknown_client(client: Client):
    response = await client.http.get(client.url + "/auth/v3/oauth/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": "someone", "redirect_uri": "http://app.test/cb"})
    assert response.status == 400 and (await response.json())["error"] == "invalid_request"


async def test_grant_errors(client: Client):
    bad_secret = "Basic " + base64.b64encode(b"demo-client:wrong").decode()
    response = await client.http.post(client.url + "/auth/v3/oauth/token", data=PASSWORD_GRANT,
                                      headers={"x-api-key": API_KEY, "Authorization": bad_secret})
    assert response.status == 401
    assert await response.json() == {"error": "Unauthorized", "error_description": "Bad credentials"}
    no_basic = await client.http.post(client.url + "/auth/v3/oauth/token", data=PASSWORD_GRANT,
                                      headers={"x-api-key": API_KEY})
    assert no_basic.status == 401
    wrong_password = await client.grant(**{**PASSWORD_GRANT, "password": "nope"})
    assert wrong_password.status == 400
    assert await wrong_password.json() == {"error": "invalid_grant", "error_description": "Bad credentials"}
    for refused in (response, wrong_password):  # errors of the token endpoint are not cached either
        assert refused.headers["Cache-Control"] == "no-store" and refused.headers["Pragma"] == "no-cache"
    unsupported = await client.grant(grant_type="implicit")
    assert unsupported.status == 400 and (await unsupported.json())["error"] == "unsupported_grant_type"
    no_key = await client.http.post(client.url + "/auth/v3/oauth/token", data=PASSWORD_GRANT,
                                    headers={"x-api-key": "wrong", "Authorization": BASIC})
    assert no_key.status == 403 and await no_key.json() == {"message": "Forbidden"}


async def test_ping_userinfo_and_sign_out(client: Client, make_client):
    ping = await client.request("GET", "/auth/v3/ping")
    assert ping.status == 200
    assert await ping.json() == {"status": {"code": 0, "message": "OK"}, "data": {}, "path": "/auth/v3/ping"}
    other = await make_client()
    await client.request("POST", "/auth/v3/sign-out?global=false")
    prohibited = await client.request("GET", "/auth/v3/ping")
    # A 403 in the envelope: not the gateway's {"message": "Forbidden"} of a bad API key.
    assert prohibited.status == 403 and await prohibited.json() == {"status": {"code": 403, "message": "Prohibited"}}
    assert (await client.request("GET", "/auth/v3/userinfo")).status == 401
    assert (await other.request("GET", "/auth/v3/ping")).status == 200
    third = await make_client()
    response = await other.request("GET", "/auth/v3/sign-out?global=true")
    assert response.status == 200
    assert await response.json() == {"status": {"code": 0, "message": "OK"}, "data": {}, "path": "/auth/v3/sign-out"}
    assert (await other.request("GET", "/auth/v3/ping")).status == 403, "global: every token of the user"
    assert (await third.request("GET", "/auth/v3/ping")).status == 403


async def test_revoke_tokens_cuts_every_token_short(client: Client):
    refresh_token = (await (await client.grant(**PASSWORD_GRANT)).json())["refresh_token"]
    status, body = await control(client, "POST", "revoke-tokens")
    assert status == 200 and body["revoked"] == 2
    subscribe = await client.request("POST", "/statistics/v3/subscriptions", json={})
    assert subscribe.status == 401 and await subscribe.json() == {"message": "Unauthorized"}
    handshake = await client.bayeux([{"channel": "/meta/handshake", "version": "1.0"}])
    assert handshake[0] == 401
    refreshed = await client.grant(grant_type="refresh_token", refresh_token=refresh_token, client_id="demo-client")
    assert refreshed.status == 200
    await control(client, "POST", "revoke-tokens", {"refresh": True})
    token = (await refreshed.json())["refresh_token"]
    assert (await client.grant(grant_type="refresh_token", refresh_token=token)).status == 400


async def test_auth_faults(client: Client):
    status, body = await control(client, "POST", "fail", {"status": 503, "count": 2, "scope": "auth"})
    assert status == 200 and body["armed"] == {"auth": {"status": 503, "count": 2}}
    for _ in range(2):
        response = await client.grant(**PASSWORD_GRANT)
        assert response.status == 503
        assert await response.json() == {"error": "server_error", "error_description": "Service Unavailable"}
    assert (await client.grant(**PASSWORD_GRANT)).status == 200
    assert (await client.request("GET", "/simulator/state", headers=CONTROL)).status == 200


class TestShortTokenLifetime:
    @pytest.fixture
    def simulator_config(self):
        return fast_config(token_ttl=1)

    async def test_expired_token_gets_401_everywhere_and_refresh_still_works(self, client: Client):
        first = await (await client.grant(**PASSWORD_GRANT)).json()
        assert first["expires_in"] == 1
        client.token = first["access_token"]

        async def expired():
            return (await client.request("GET", "/statistics/v3/subscriptions/x/statistic-values")).status == 401
        await wait_until(expired, timeout=4, message="token expiry after 1 s")
        assert (await client.bayeux([{"channel": "/meta/handshake", "version": "1.0"}]))[0] == 401
        assert (await client.request("GET", "/auth/v3/ping")).status == 403
        renewed = await client.grant(grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert renewed.status == 200


@pytest.mark.parametrize("status", [400, 401, 403])
@pytest.mark.parametrize("form", ["oauth", "envelope"])
async def test_refresh_refused_on_demand_in_each_documented_form(client: Client, status, form):
    first = await (await client.grant(**PASSWORD_GRANT)).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "demo-client",
               "scope": "*"}
    armed = await control(client, "POST", "refuse-refresh", {"status": status, "form": form, "count": 1})
    assert armed == (200, {"armed": {"status": status, "form": form, "count": 1}})
    refused = await client.grant(**refresh)
    assert refused.status == status and refused.headers["Cache-Control"] == "no-store"
    body = await refused.json()
    if form == "envelope":
        assert body == {"status": {"code": status, "message": "Invalid refresh token"}}
    else:
        assert set(body) == {"error", "error_description"}
    # Only refresh grants are refused, and only as many as armed.
    assert (await client.grant(**PASSWORD_GRANT)).status == 200
    assert (await client.grant(**refresh)).status == 200


@pytest.mark.parametrize("body, message", [
    ({"status": 404}, "status must be one of 400, 401, 403"),
    ({"form": "xml"}, "form must be one of oauth, envelope"),
    ({"count": 0}, "count must be a positive integer"),
])
async def test_refuse_refresh_validates_its_body(client: Client, body, message):
    assert await control(client, "POST", "refuse-refresh", body) == (400, {"message": message})
