"""Sign in with Genesys against a real simulator: the flow, the mapping, and every refusal.

Each refusal ends on the login page with a plain message, signs no one in, and makes
no user; codes, tokens and the client secret appear in no page and no log line.
"""

import html
import http.client
import logging
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group, User
from django.test import Client

from dashboard import access, sso_views
from dashboard.models import Dashboard, GenesysAccessRule, GenesysIdentity
from statsbridge.simulator.authorize import TEAM_LEAD, TEAM_LEAD_PASSWORD, sign_in_for
from tests.fixtures_simulator import fast_config
from tests.waiting import free_port

pytestmark = pytest.mark.django_db(transaction=True)
CALLBACK = "http://testserver/accounts/genesys/callback/"


@pytest.fixture
def tenant(simulator_thread, settings):
    """Sign-in through Genesys on, aimed at a simulator; yields the simulator thread."""
    settings.GENESYS = {**settings.GENESYS, "API_URL": simulator_thread.url.rstrip("/")}
    settings.GENESYS_SSO = {**settings.GENESYS_SSO, "ENABLED": True, "AUTH_URL": "", "REDIRECT_URI": "",
                            "CLIENT_ID": "demo-client", "CLIENT_SECRET": "demo-secret", "SIGN_OUT": True}
    return simulator_thread


@pytest.fixture
def mapping():
    """Team leads see the agent board; supervisors see both boards."""
    leads, supervisors = Group.objects.create(name="Team leads"), Group.objects.create(name="Supervisors")
    agents = Dashboard.objects.create(title="Agent board", slug="agents")
    overview = Dashboard.objects.create(title="Overview", slug="overview")
    agents.groups.add(leads, supervisors)
    overview.groups.add(supervisors)
    GenesysAccessRule.objects.create(kind="authority", value="role_team_lead").groups.add(leads)
    GenesysAccessRule.objects.create(kind="authority", value="ROLE_SUPERVISOR").groups.add(supervisors)
    return {"leads": leads, "supervisors": supervisors, "agents": agents, "overview": overview}


def start(client: Client, next_url: str = "") -> dict:
    """Start the sign-in; returns the authorize URL's query (asserting its shape)."""
    response = client.get("/accounts/genesys/login/" + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/auth/v3/oauth/authorize"
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def at_tenant(tenant, query: dict, username=TEAM_LEAD, password=TEAM_LEAD_PASSWORD, action="sign-in",
              redirect_uri: str | None = None) -> dict:
    """Submit the tenant's sign-in form as a browser would; returns the redirect's query."""
    form = {**query, "username": username, "password": password, "action": action}
    if redirect_uri:
        form["redirect_uri"] = redirect_uri
    parts = urlsplit(tenant.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", "/auth/v3/oauth/authorize", urlencode(form),
                           {"Content-Type": "application/x-www-form-urlencoded"})
        reply = connection.getresponse()
        assert reply.status == 302, reply.read()
        location = urlsplit(reply.getheader("Location"))
    finally:
        connection.close()
    assert f"{location.scheme}://{location.netloc}{location.path}" == form["redirect_uri"]
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def back(client: Client, answer: dict):
    """The browser arrives at the callback; follows to the final page."""
    return client.get("/accounts/genesys/callback/?" + urlencode(answer), follow=True)


def refused_with(response, message: str) -> None:
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert message.format(contact="your administrator") in html.unescape(response.content.decode())
    assert SESSION_KEY not in response.client.session


def test_login_page_offers_genesys_only_when_on(settings, tenant):
    page = Client().get("/accounts/login/?next=/d/agents/").content.decode()
    assert 'href="/accounts/genesys/login/?next=%2Fd%2Fagents%2F">Sign in with Genesys</a>' in page
    settings.GENESYS_SSO = {**settings.GENESYS_SSO, "ENABLED": False}
    assert "Sign in with Genesys" not in Client().get("/accounts/login/").content.decode()
    assert Client().get("/accounts/genesys/login/").status_code == 404
    assert Client().get("/accounts/genesys/callback/?code=x&state=y").status_code == 404


def test_sign_in_makes_the_user_from_userinfo_and_grants_mapped_dashboards(tenant, mapping, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client()
    query = start(client, "/d/agents/")
    assert query["response_type"] == "code" and query["client_id"] == "demo-client"
    assert query["redirect_uri"] == CALLBACK and len(query["state"]) >= 40
    before = client.session.session_key
    answer = at_tenant(tenant, query)
    assert answer["state"] == query["state"]
    page = back(client, answer)
    assert page.redirect_chain[-1][0] == "/d/agents/" and page.status_code == 200
    user = User.objects.get(username=TEAM_LEAD)
    assert client.session[SESSION_KEY] == str(user.pk) and client.session.session_key != before, "rotated"
    assert not user.has_usable_password() and not user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["Team leads"]
    assert client.get("/d/overview/").status_code == 403
    listed = client.get("/").content.decode()
    assert "Agent board" in listed and "Overview" not in listed
    identity = GenesysIdentity.objects.get(user=user)
    assert identity.subject == TEAM_LEAD and identity.claims["authorities"] == ["ROLE_TEAM_LEAD"]
    token = client.session[sso_views.TOKEN_KEY]
    for secret in (answer["code"], token, "demo-secret"):
        assert secret not in caplog.text and secret not in page.content.decode() and secret not in str(identity.claims)


def test_the_supervisor_gets_both_and_a_second_sign_in_updates(tenant, mapping):
    client = Client()
    back(client, at_tenant(tenant, start(client), username="demo\\supervisor", password="demo-password"))
    user = User.objects.get(username="demo\\supervisor")
    assert client.get("/d/overview/").status_code == 200
    # The supervisors' rule now gives the team leads' group instead: the next sign-in follows.
    GenesysAccessRule.objects.filter(value="ROLE_SUPERVISOR").delete()
    GenesysAccessRule.objects.create(kind="user", value="supervisor").groups.add(mapping["leads"])
    again = Client()
    back(again, at_tenant(tenant, start(again), username="supervisor", password="demo-password"))
    assert User.objects.filter(username__startswith="demo").count() == 1
    assert list(user.groups.values_list("name", flat=True)) == ["Team leads"]
    assert again.get("/d/overview/").status_code == 403 and again.get("/d/agents/").status_code == 200


def test_a_changed_mapping_applies_at_once_and_closes_open_sockets(tenant, mapping, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    client = Client()
    back(client, at_tenant(tenant, start(client)))
    user = User.objects.get(username=TEAM_LEAD)
    told = []
    monkeypatch.setattr(access, "_send", lambda groups, message: told.extend(groups))
    with django_capture_on_commit_callbacks(execute=True):
        GenesysAccessRule.objects.get(value="role_team_lead").groups.clear()
    assert not user.groups.exists()
    assert access.user_group(user.pk) in told, "the user's open desk sockets re-check their access"
    assert client.get("/d/agents/").status_code == 403


def test_wrong_state_is_refused(tenant, mapping):
    client = Client()
    answer = at_tenant(tenant, start(client))
    refused_with(back(client, {**answer, "state": answer["state"][:-1] + "x"}), sso_views.STATE_REFUSED)
    assert not User.objects.exists()
    # The started sign-in is used up: the right state cannot be tried afterwards.
    refused_with(back(client, answer), sso_views.STATE_REFUSED)
    assert not User.objects.exists()


def test_a_callback_from_another_browser_is_refused(tenant, mapping):
    answer = at_tenant(tenant, start(Client()))
    refused_with(back(Client(), answer), sso_views.STATE_REFUSED)
    assert not User.objects.exists()


def test_a_sign_in_that_took_too_long_is_refused(tenant, mapping, settings):
    settings.GENESYS_SSO = {**settings.GENESYS_SSO, "FLOW_SECONDS": -1}
    client = Client()
    refused_with(back(client, at_tenant(tenant, start(client))), sso_views.STATE_REFUSED)
    assert not User.objects.exists()


def test_a_tenant_error_or_a_missing_code_is_refused(tenant, mapping):
    for answer in ({"error": "server_error"}, {}):
        client = Client()
        state = start(client)["state"]
        refused_with(back(client, {**answer, "state": state}), sso_views.UNREACHABLE)
    assert not User.objects.exists()


def test_a_reused_code_is_refused(tenant, mapping):
    first = Client()
    answer = at_tenant(tenant, start(first))
    back(first, answer)
    assert User.objects.count() == 1
    second = Client()
    state = start(second)["state"]
    refused_with(back(second, {"code": answer["code"], "state": state}), sso_views.CODE_REFUSED)


def test_an_expired_code_is_refused(tenant, mapping):
    tenant.call(lambda t: setattr(sign_in_for(t).codes, "ttl_seconds", 0))
    client = Client()
    refused_with(back(client, at_tenant(tenant, start(client))), sso_views.CODE_REFUSED)
    assert not User.objects.exists()


def test_a_code_for_another_redirect_uri_is_refused(tenant, mapping):
    client = Client()
    query = start(client)
    elsewhere = at_tenant(tenant, query, redirect_uri="http://elsewhere.test/accounts/genesys/callback/")
    refused_with(back(client, elsewhere), sso_views.CODE_REFUSED)
    assert not User.objects.exists()


def test_a_declined_sign_in_is_refused(tenant, mapping):
    client = Client()
    answer = at_tenant(tenant, start(client), password="", action="deny")
    assert "code" not in answer
    refused_with(back(client, answer), sso_views.DENIED)
    assert not User.objects.exists()


def test_an_unreachable_tenant_is_refused(tenant, mapping, settings):
    client = Client()
    answer = at_tenant(tenant, start(client))
    settings.GENESYS = {**settings.GENESYS, "API_URL": f"http://127.0.0.1:{free_port()}"}
    refused_with(back(client, answer), sso_views.UNREACHABLE)
    assert not User.objects.exists()


def test_a_failing_tenant_is_refused(tenant, mapping):
    import json
    import urllib.request

    client = Client()
    answer = at_tenant(tenant, start(client))
    arm = urllib.request.Request(tenant.url.rstrip("/") + "/simulator/fail", method="POST",
                                 data=json.dumps({"scope": "auth", "status": 503, "count": 1}).encode(),
                                 headers={"x-simulator-key": "demo-control-key", "content-type": "application/json"})
    urllib.request.urlopen(arm, timeout=10).close()
    refused_with(back(client, answer), sso_views.UNREACHABLE)
    assert not User.objects.exists()


def test_someone_the_mapping_grants_nothing_is_refused_and_not_made(tenant):
    client = Client()
    refused_with(back(client, at_tenant(tenant, start(client))), sso_views.NOT_GRANTED)
    assert not User.objects.exists() and not GenesysIdentity.objects.exists()


def test_a_local_account_is_never_taken_over(tenant, mapping):
    User.objects.create_user(TEAM_LEAD.upper(), password="local-password-8421")
    client = Client()
    refused_with(back(client, at_tenant(tenant, start(client))), sso_views.NAME_TAKEN)
    assert User.objects.count() == 1 and not GenesysIdentity.objects.exists()


def test_next_may_not_leave_the_site(tenant, mapping):
    client = Client()
    page = back(client, at_tenant(tenant, start(client, "https://evil.example/")))
    assert page.redirect_chain[-1][0] == "/"


def test_logout_signs_out_at_the_tenant(tenant, mapping):
    client = Client()
    back(client, at_tenant(tenant, start(client)))
    token = client.session[sso_views.TOKEN_KEY]
    assert tenant.call(lambda t: t.tokens.lookup(token) is not None)
    client.post("/accounts/logout/")
    assert tenant.call(lambda t: t.tokens.lookup(token) is None), "the tenant's token is revoked"
    assert SESSION_KEY not in client.session


def test_logout_stays_local_when_configured(tenant, mapping, settings):
    settings.GENESYS_SSO = {**settings.GENESYS_SSO, "SIGN_OUT": False}
    client = Client()
    back(client, at_tenant(tenant, start(client)))
    assert sso_views.TOKEN_KEY not in client.session, "no token kept when it is not needed"
    assert SESSION_KEY in client.session


@pytest.fixture
def simulator_config():
    """The simulator of these tests: the demo tenant."""
    return fast_config()


# -- the pure parts (dashboard.sso) ----------------------------------------------------


def test_claims_and_rules_from_the_references_userinfo():
    from dashboard import sso

    claims = sso.claims_from({"username": "acme\\jo", "loginName": "jo", "cmeUserName": "jo", "authorities": [
        {"name": "ROLE_SUPERVISOR", "privileges": ["STATISTICS_READ", "X"]}, {"name": "ROLE_AGENT"}, "junk"]})
    assert claims == sso.Claims("acme\\jo", ("acme\\jo", "jo"), ("ROLE_SUPERVISOR", "ROLE_AGENT"),
                                ("STATISTICS_READ", "X"))
    assert sso.Claims.from_json(claims.as_json()) == claims
    rules = [sso.Rule("authority", "role_agent", frozenset({1}), frozenset()),
             sso.Rule("privilege", "statistics_read", frozenset({2}), frozenset({7})),
             sso.Rule("user", "someone", frozenset({3}), frozenset()),
             sso.Rule("authority", " ", frozenset({4}), frozenset())]
    assert sso.grants(rules, claims) == ({1, 2}, {7})
    for bad in (None, [], {}, {"username": " "}, {"username": 3}):
        with pytest.raises(sso.UserInfoError):
            sso.claims_from(bad)


def test_authorize_url_and_state():
    from dashboard import sso

    url = sso.authorize_url("https://gws.example/", "app", "https://board.example/cb?x=1", "st")
    assert url == ("https://gws.example/auth/v3/oauth/authorize?response_type=code&client_id=app"
                   "&redirect_uri=https%3A%2F%2Fboard.example%2Fcb%3Fx%3D1&state=st")
    assert sso.new_state() != sso.new_state()
    assert sso.state_matches("abc", "abc") and not sso.state_matches("abc", "abd")
    assert not sso.state_matches("", "") and not sso.state_matches(None, None) and not sso.state_matches("a", None)


def test_the_demo_maps_the_simulators_users(demo, catalog):
    from dashboard.seeding import seed_demo
    from dashboard.sso import claims_from
    from statsbridge.simulator.authorize import cloud_user_details, tenant_users

    users = tenant_users(fast_config())
    supervisor, lead = (sso_views.sign_in_user(claims_from(cloud_user_details(u)))[0] for u in users.values())
    every = {d.slug for d in demo.dashboards}
    assert {d.slug for d in Dashboard.objects.all() if d.can_view(supervisor)} == every
    lead_sees = {d.slug for d in Dashboard.objects.all() if d.can_view(lead)}
    assert lead_sees == every - {"overview", "queues"} and "agents" in lead_sees and len(lead_sees) > 1
    # An edit in the admin stays across a restart of the demo.
    GenesysAccessRule.objects.get(value="ROLE_TEAM_LEAD").groups.clear()
    seed_demo(catalog)
    assert not GenesysAccessRule.objects.get(value="ROLE_TEAM_LEAD").groups.exists()


def test_a_cookie_session_never_carries_the_token(tenant, mapping, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    client = Client()
    page = back(client, at_tenant(tenant, start(client)))
    assert page.status_code == 200 and SESSION_KEY in client.session
    assert sso_views.TOKEN_KEY not in client.session
