"""A scripted token endpoint's side of the upstream tests: its path, the test client's
API key and credentials, and token replies."""

from statsbridge.upstream.auth import Credentials
from tests.upstream.scripted_server import Scripted

API_KEY = "test-api-key-1234"  # the shared session's (the session fixture)
TOKEN = "/auth/v3/oauth/token"
SECRET = "s3cr3t-client-secret"
PASSWORD = "p4ssw0rd-value"


def credentials(server, *, user=False) -> Credentials:
    """The test client's credentials for ``server`` (with the user's, for a password grant)."""
    return Credentials(api_url=server.url, client_id="cid", client_secret=SECRET,
                       username="tenant\\alice" if user else "", password=PASSWORD if user else "")


def issued(n, expires_in=100, refresh=True) -> Scripted:
    """A token reply issuing ``token-<n>`` (and ``refresh-<n>``)."""
    body = {"access_token": f"token-{n}", "token_type": "bearer", "expires_in": expires_in, "scope": "*"}
    if refresh:
        body["refresh_token"] = f"refresh-{n}"
    return Scripted(json=body)


def counting_issuer():
    """A default token handler issuing token-1, token-2, ... (answering a little later)."""
    count = {"n": 0}

    def handler(recorded):
        count["n"] += 1
        reply = issued(count["n"])
        reply.delay = 0.05
        return reply
    return handler
