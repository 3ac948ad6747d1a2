"""Guessing is throttled: passwords on every login form (django-axes, per user name and
address, with a cool-down page and a log line) and wall tokens per address."""

import logging

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings

LOGIN_FORMS = ["/accounts/login/", "/admin/login/"]
ADDRESS = "203.0.113.7"


def attempt(client: Client, path: str, username: str, password: str, address: str = ADDRESS):
    """POST a login form as a browser would (the test client skips CSRF)."""
    return client.post(path, {"username": username, "password": password, "next": "/"}, REMOTE_ADDR=address)


@pytest.mark.parametrize("path", LOGIN_FORMS)
def test_after_a_few_wrong_passwords_even_the_right_one_is_refused_with_a_clear_page(db, path, caplog):
    User.objects.create_user("alice", password="right-password-8421", is_staff=True)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, path, "alice", "wrong").status_code == 200  # the form again, with its error
    with caplog.at_level(logging.WARNING):
        locked = attempt(client, path, "alice", "wrong")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed log-ins" in page and "15 minutes" in page
    assert "Contact centre dashboards" in page, "the product's own page, not a bare error"
    assert any("locked out" in r.getMessage() for r in caplog.records), "the lockout is logged"
    refused = attempt(client, path, "alice", "right-password-8421")
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_user_name_and_address(db):
    User.objects.create_user("alice", password="right-password-8421")
    User.objects.create_user("bob", password="bobs-password-8421")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "/accounts/login/", "alice", "wrong")
    assert attempt(client, "/accounts/login/", "alice", "right-password-8421").status_code == 429
    # Another user from the same address, and the same user from another address, still log in.
    assert attempt(Client(), "/accounts/login/", "bob", "bobs-password-8421").status_code == 302
    assert attempt(Client(), "/accounts/login/", "alice", "right-password-8421", "198.51.100.2").status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(db):
    User.objects.create_user("alice", password="right-password-8421")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(Client(), "/accounts/login/", "alice", "wrong")
    assert attempt(Client(), "/accounts/login/", "alice", "right-password-8421").status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(Client(), "/accounts/login/", "alice", "wrong").status_code == 200


@override_settings(WALL_TOKEN_REFUSALS={"LIMIT": 3, "WINDOW_SECONDS": 600})
def test_wall_token_guessing_is_refused_per_address(client, demo, caplog):
    token = demo.wall_token
    for number in range(3):
        assert client.get(f"/wall/guess-{number}/", REMOTE_ADDR=ADDRESS).status_code == 403
    with caplog.at_level(logging.WARNING):
        blocked = client.get(f"/wall/{token}/", REMOTE_ADDR=ADDRESS)
    # Even the right token is refused from that address now: the answer tells a guesser nothing.
    assert blocked.status_code == 429 and blocked["Retry-After"] == "60"
    assert "Too many wrong wall links" in blocked.content.decode()
    assert any("wall links refused" in r.getMessage() for r in caplog.records)
    assert token not in caplog.text
    # Other addresses' walls keep working.
    assert client.get(f"/wall/{token}/", REMOTE_ADDR="198.51.100.2").status_code == 200


async def wall_socket_code(path: str, address: str | None) -> int | None:
    """The close code a wall socket from ``address`` gets (None: accepted)."""
    from channels.testing import WebsocketCommunicator

    from contactboard.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=[(b"host", b"127.0.0.1:8000"),
                                                                    (b"origin", b"http://127.0.0.1:8000")])
    if address is not None:
        communicator.scope["client"] = [address, 40000]
    connected, code = await communicator.connect()
    await communicator.disconnect()
    return None if connected else code


@pytest.mark.django_db(transaction=True)
@override_settings(WALL_TOKEN_REFUSALS={"LIMIT": 3, "WINDOW_SECONDS": 600})
async def test_wall_socket_guessing_is_refused_per_address_with_a_retry_later_code(demo):
    from django.core.cache import cache

    await cache.aclear()
    token = demo.wall_token
    for number in range(3):
        assert await wall_socket_code(f"/ws/wall/guess-{number}/", ADDRESS) == 4403
    # Blocked: even the right token gets "too many" (4429), which the wall page retries later.
    assert await wall_socket_code(f"/ws/wall/{token}/", ADDRESS) == 4429
    assert await wall_socket_code(f"/ws/wall/{token}/", "198.51.100.2") is None
    # Without a known address (a Unix socket) nobody shares one bucket.
    for number in range(4):
        assert await wall_socket_code(f"/ws/wall/guess-{number}/", None) == 4403
    assert await wall_socket_code(f"/ws/wall/{token}/", None) is None
