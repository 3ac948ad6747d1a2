"""The simulated Authorization Code grant: sign-in form, codes, userinfo shapes, sign-out."""

from urllib.parse import parse_qs, urlsplit

from statsbridge.simulator.authorize import TEAM_LEAD, TEAM_LEAD_PASSWORD, redirect_uri_ok, sign_in_for
from statsbridge.simulator.codes import CodeStore

from .helpers import API_KEY, Client

CALLBACK = "http://app.test/accounts/genesys/callback/"
AUTHORIZE = "/auth/v3/oauth/authorize"


def sign_in_form(**overrides) -> dict:
    return {"response_type": "code", "client_id": "demo-client", "redirect_uri": CALLBACK, "state": "s-123",
            "username": TEAM_LEAD, "password": TEAM_LEAD_PASSWORD, "action": "sign-in", **overrides}


async def sign_in(client: Client, **overrides):
    return await client.http.post(client.url + AUTHORIZE, data=sign_in_form(**overrides), allow_redirects=False)


async def code_for(client: Client, **overrides) -> str:
    response = await sign_in(client, **overrides)
    assert response.status == 302, await response.text()
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


async def exchange(client: Client, code: str, redirect_uri: str = CALLBACK):
    return await client.grant(grant_type="authorization_code", code=code, redirect_uri=redirect_uri,
                              client_id="demo-client")


# -- the code store (pure) ---------------------------------------------------------


def test_codes_are_bound_single_use_and_short_lived():
    now = [100.0]
    codes = CodeStore(ttl_seconds=30, clock=lambda: now[0])
    first = codes.issue("app", CALLBACK, "demo\\teamlead")
    assert codes.redeem(first, "app", CALLBACK) == "demo\\teamlead"
    assert codes.redeem(first, "app", CALLBACK) is None, "single use"
    other_client = codes.issue("app", CALLBACK, "u")
    assert codes.redeem(other_client, "another-app", CALLBACK) is None
    assert codes.redeem(other_client, "app", CALLBACK) is None, "a failed attempt uses the code up"
    other_uri = codes.issue("app", CALLBACK, "u")
    assert codes.redeem(other_uri, "app", CALLBACK + "x") is None
    late = codes.issue("app", CALLBACK, "u")
    now[0] += 30
    assert codes.redeem(late, "app", CALLBACK) is None, "expired"
    kept = codes.issue("app", CALLBACK, "u")
    assert len(codes) == 1, "issuing forgets expired codes"
    now[0] += 29.9
    assert codes.redeem(kept, "app", CALLBACK) == "u"
    assert len({codes.issue("app", CALLBACK, "u") for _ in range(50)}) == 50


def test_redirect_uri_rules():
    assert redirect_uri_ok("https://board.example.com/accounts/genesys/callback/")
    assert redirect_uri_ok("http://127.0.0.1:8000/cb?x=1")
    for bad in ("/relative", "javascript:alert(1)", "https://board.example.com/cb#frag", "", "ftp://h/cb"):
        assert not redirect_uri_ok(bad), bad


# -- the form --------------------------------------------------------------------------


async def test_authorize_shows_an_escaped_sign_in_form(client: Client):
    response = await client.http.get(client.url + AUTHORIZE, allow_redirects=False, params={
        "response_type": "code", "client_id": "demo-client", "redirect_uri": CALLBACK, "state": '"><script>x'})
    text = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert '<form method="post" action="/auth/v3/oauth/authorize">' in text
    assert 'name="state" value="&quot;&gt;&lt;script&gt;x"' in text and "<script>" not in text
    assert f'name="redirect_uri" value="{CALLBACK}"' in text
    assert response.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in \
        response.headers["Content-Security-Policy"]


async def test_authorize_refuses_bad_requests_without_redirecting(client: Client):
    for params in ({"client_id": "someone"}, {"redirect_uri": CALLBACK + "#x"}, {"redirect_uri": "/cb"},
                   {"response_type": "token"}):
        query = {"response_type": "code", "client_id": "demo-client", "redirect_uri": CALLBACK, **params}
        response = await client.http.get(client.url + AUTHORIZE, params=query, allow_redirects=False)
        assert response.status == 400 and "Location" not in response.headers, params
        assert (await response.json())["error"] == "invalid_request"
        posted = await sign_in(client, **params)
        assert posted.status == 400 and "Location" not in posted.headers, params


async def test_sign_in_redirects_with_code_and_state(client: Client):
    response = await sign_in(client)
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert response.status == 302
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert query["state"] == ["s-123"] and len(query["code"][0]) >= 32
    with_query = await sign_in(client, redirect_uri=CALLBACK + "?lang=sv")
    assert parse_qs(urlsplit(with_query.headers["Location"]).query)["lang"] == ["sv"]


async def test_wrong_password_shows_the_form_again_without_a_code(simulator, client: Client):
    issued = len(sign_in_for(simulator.tenant).codes)
    response = await sign_in(client, password="wrong")
    text = await response.text()
    assert response.status == 401 and "Location" not in response.headers
    assert "Bad credentials" in text and f'value="{TEAM_LEAD.replace(chr(92), chr(92))}"' in text
    assert TEAM_LEAD_PASSWORD not in text and "wrong" not in text
    unknown = await sign_in(client, username="demo\\nobody")
    assert unknown.status == 401
    assert len(sign_in_for(simulator.tenant).codes) == issued


async def test_declining_redirects_with_access_denied(client: Client):
    response = await sign_in(client, action="deny", password="")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert response.status == 302 and query == {"error": ["access_denied"], "state": ["s-123"]}


# -- the grant -----------------------------------------------------------------------


async def test_code_exchange_and_userinfo_shapes(client: Client):
    granted = await exchange(client, await code_for(client))
    body = await granted.json()
    assert granted.status == 200 and body["token_type"] == "bearer" and body["refresh_token"]
    assert granted.headers["Cache-Control"] == "no-store"
    client.token = body["access_token"]
    info = await (await client.request("GET", "/auth/v3/userinfo")).json()
    assert info == {"authorities": [{"name": "ROLE_TEAM_LEAD", "privileges": ["STATISTICS_READ"]}],
                    "cmeUserName": "teamlead", "contactCenterId": "demo", "dbid": info["dbid"],
                    "environmentId": "simulator", "loginName": "teamlead", "properties": {},
                    "username": "demo\\teamlead"}
    assert isinstance(info["dbid"], int)
    openid = await (await client.request("GET", "/auth/v3/openid/userinfo")).json()
    assert set(openid) == {"aud", "authorities", "contact_center_id", "dbid", "email", "environment_id",
                           "family_name", "given_name", "properties", "sub", "user_name"}, "the reference's OpenIdUserInfo"
    assert openid["sub"] == openid["user_name"] == "demo\\teamlead" and openid["aud"] == "demo-client"
    assert openid["given_name"] == "Tove" and openid["dbid"] == info["dbid"]
    assert openid["authorities"] == info["authorities"]


async def test_code_is_single_use(client: Client):
    code = await code_for(client)
    assert (await exchange(client, code)).status == 200
    reused = await exchange(client, code)
    assert reused.status == 400
    assert await reused.json() == {"error": "invalid_grant", "error_description": "Invalid authorization code"}


async def test_code_is_bound_to_its_redirect_uri(client: Client):
    code = await code_for(client, redirect_uri="http://elsewhere.test/cb")
    mismatched = await exchange(client, code)
    assert mismatched.status == 400 and (await mismatched.json())["error"] == "invalid_grant"
    assert (await exchange(client, code, "http://elsewhere.test/cb")).status == 400, "used up by the failed try"


async def test_expired_code_is_refused(simulator, client: Client):
    sign_in_for(simulator.tenant).codes.ttl_seconds = 0
    expired = await exchange(client, await code_for(client))
    assert expired.status == 400 and (await expired.json())["error"] == "invalid_grant"


async def test_userinfo_needs_key_and_live_token_and_sign_out_ends_it(client: Client):
    client.token = (await (await exchange(client, await code_for(client))).json())["access_token"]
    no_key = await client.http.get(client.url + "/auth/v3/openid/userinfo",
                                   headers={"Authorization": f"Bearer {client.token}"})
    assert no_key.status == 403 and await no_key.json() == {"message": "Forbidden"}
    signed_out = await client.request("POST", "/auth/v3/sign-out?global=false")
    assert signed_out.status == 200
    for path in ("/auth/v3/userinfo", "/auth/v3/openid/userinfo"):
        after = await client.request("GET", path)
        assert after.status == 401, path


async def test_supervisor_userinfo_keeps_its_shape(client: Client):
    # The password grant's user (the bridge's) reads as before: a supervisor.
    info = await (await client.request("GET", "/auth/v3/userinfo",
                                       headers={"x-api-key": API_KEY,
                                                "Authorization": f"Bearer {client.token}"})).json()
    assert info["username"] == "demo\\supervisor"
    assert info["authorities"] == [{"name": "ROLE_SUPERVISOR", "privileges": ["STATISTICS_READ"]}]
