"""Open desk sockets re-check their access when it changes, in one process (the embedded
default: in-memory channel layer, the change made where the socket is served)."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, User

from tests.consumers.helpers import communicator_closed, desk, make_dashboard
from tests.live import Browser, eventually

pytestmark = pytest.mark.django_db(transaction=True)


def member_and_board(name: str):
    """A user who sees dashboard ``name`` through a group; returns (user, group, dashboard)."""
    user = User.objects.create_user(name, password="x")
    group = Group.objects.create(name=f"team-{name}")
    user.groups.add(group)
    dashboard, _ = make_dashboard(name)
    dashboard.groups.add(group)
    return user, group, dashboard


async def opened(slug: str, user):
    communicator, connected, code = await desk(slug, user)
    assert connected, code
    await Browser(communicator).next_frame()
    return communicator


def deactivate(user):
    user.is_active = False
    user.save()


async def test_deactivation_and_group_removal_close_only_the_sockets_concerned():
    alice, _alice_team, _ = await sync_to_async(member_and_board)("alice")
    bob, _, _ = await sync_to_async(member_and_board)("bob")
    carol, carol_team, _ = await sync_to_async(member_and_board)("carol")
    alices, bobs, carols = await opened("alice", alice), await opened("bob", bob), await opened("carol", carol)
    await sync_to_async(deactivate)(alice)
    closed = await eventually(lambda: communicator_closed(alices), 5.0, "alice's socket closed")
    assert closed["code"] == 4401
    await sync_to_async(carol.groups.remove)(carol_team)
    closed = await eventually(lambda: communicator_closed(carols), 5.0, "carol's socket closed")
    assert closed["code"] == 4403
    assert await bobs.receive_nothing(0.3), "bob's socket must stay open and quiet"
    await bobs.send_json_to({"type": "ping", "t": 1})
    assert (await bobs.receive_json_from(timeout=5))["type"] == "pong"
    await bobs.disconnect()


async def test_an_unrelated_save_leaves_the_socket_open():
    dave, _, _ = await sync_to_async(member_and_board)("dave")
    socket = await opened("dave", dave)
    dave.first_name = "Dave"
    await sync_to_async(dave.save)()
    assert await socket.receive_nothing(0.5), "a save that keeps access must not close the socket"
    await socket.disconnect()
