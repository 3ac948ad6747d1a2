"""Desk sockets read their user from the session cookie themselves (no auth middleware):
through the full ASGI application, only a live session of a user who may view the
dashboard gets in, checked exactly as Django checks a page request."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.test import Client

from contactboard.asgi import application
from dashboard.models import Dashboard

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def login(user: User) -> str:
    """A real session key for ``user``, made by Django's login."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def opens(slug: str, session_key: str | None, cookie_header: bytes | None = None) -> tuple[bool, int | None]:
    """Whether ``ws/dashboards/<slug>/`` accepts this cookie (and the close code if not)."""
    cookie = cookie_header or (f"sessionid={session_key}".encode() if session_key else None)
    headers = [ORIGIN, (b"host", b"127.0.0.1:8000")] + ([(b"cookie", cookie)] if cookie else [])
    communicator = WebsocketCommunicator(application, f"/ws/dashboards/{slug}/", headers=headers)
    connected, code = await communicator.connect()
    if connected:
        snapshot = await communicator.receive_json_from(timeout=5)
        assert snapshot["type"] == "snapshot" and snapshot["dashboard"] == slug
        await communicator.disconnect()
    return connected, code


@pytest.fixture
def people(db):
    """An owner, a member of the dashboard's group, a stranger and an inactive member."""
    owner = User.objects.create_user("owner", password="pw-owner-123")
    member = User.objects.create_user("member", password="pw-member-123")
    stranger = User.objects.create_user("stranger", password="pw-stranger-123")
    inactive = User.objects.create_user("inactive", password="pw-inactive-123")
    group = Group.objects.create(name="floor team")
    member.groups.add(group)
    inactive.groups.add(group)
    dashboard = Dashboard.objects.create(title="Floor", slug="floor", owner=owner)
    dashboard.groups.add(group)
    sessions = {user.username: login(user) for user in (owner, member, stranger, inactive)}
    inactive.is_active = False
    inactive.save()
    return sessions


async def test_owner_and_group_member_get_in_and_a_stranger_does_not(people):
    assert await opens("floor", people["owner"]) == (True, None)
    assert await opens("floor", people["member"]) == (True, None)
    assert await opens("floor", people["stranger"]) == (False, 4403)
    assert await opens("floor", people["inactive"]) == (False, 4403)


async def test_the_session_cookie_is_found_among_other_cookies(people):
    header = f"theme=dark; sessionid={people['member']}; csrftoken=abc".encode()
    assert await opens("floor", None, header) == (True, None)


async def test_a_password_change_ends_the_sessions_made_before_it(people):
    member = await User.objects.aget(username="member")
    member.set_password("a-new-password-456")
    await member.asave()
    assert await opens("floor", people["member"]) == (False, 4403)


def logout(session_key: str) -> None:
    """Log out as the browser holding ``session_key`` would."""
    client = Client()
    client.cookies["sessionid"] = session_key
    client.logout()


async def test_a_logged_out_session_no_longer_opens_a_socket(people):
    assert await opens("floor", people["owner"]) == (True, None)
    await sync_to_async(logout)(people["owner"])
    assert await opens("floor", people["owner"]) == (False, 4403)
