"""Who gets in: logins, per-dashboard permissions, staff-only admin and /ops/, wall
tokens (long, random, stored hashed, compared in constant time, revocable, never logged),
and CSRF on every form."""

import hmac
import logging
import math
import re
from collections import Counter

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from dashboard.models import Dashboard, Display, hash_token

STAFF_ONLY = ["/ops/", "/admin/", "/admin/dashboard/dashboard/", "/admin/dashboard/display/fleet/",
              "/admin/dashboard/dashboard/import/", "/admin/statsbridge/statistic/"]


def test_every_page_of_a_dashboard_needs_a_login(client, demo):
    for url in ("/", "/d/overview/", "/d/overview/history/", "/d/overview/history/?at=2026-01-01T10:00", "/d/nope/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next="), url


def test_permissions_are_per_dashboard_owner_group_or_staff(client, demo):
    outsider = User.objects.create_user("outsider", password="pw-out-12345")
    owner = User.objects.create_user("owner", password="pw-own-12345")
    member = User.objects.create_user("member", password="pw-mem-12345")
    group = Group.objects.create(name="queue-team")
    member.groups.add(group)
    queues = Dashboard.objects.get(slug="queues")
    queues.owner = owner
    queues.save()
    Dashboard.objects.get(slug="agents").groups.add(group)
    expected = {
        outsider: {"overview": 403, "agents": 403, "queues": 403},
        owner: {"overview": 403, "agents": 403, "queues": 200},
        member: {"overview": 403, "agents": 200, "queues": 403},
        User.objects.get(username=demo.username): {"overview": 200, "agents": 200, "queues": 200},
    }
    for user, pages in expected.items():
        client.force_login(user)
        for slug, status in pages.items():
            for path in (f"/d/{slug}/", f"/d/{slug}/history/"):
                assert client.get(path).status_code == status, (user.username, path)
        listing = client.get("/").content.decode()
        for slug, status in pages.items():
            assert (f"/d/{slug}/" in listing) == (status == 200), (user.username, slug)


def test_a_deactivated_user_loses_access_at_once(client, demo):
    user = User.objects.create_user("leaver", password="pw-leave-123", is_staff=True)
    client.force_login(user)
    assert client.get("/d/overview/").status_code == 200
    user.is_active = False
    user.save()
    assert client.get("/d/overview/").status_code == 302


def test_admin_and_ops_are_staff_only(client, demo):
    user = User.objects.create_user("clerk", password="pw-clerk-123")
    Dashboard.objects.get(slug="overview").groups.add(Group.objects.create(name="all"))
    user.groups.add(Group.objects.get(name="all"))
    for who in (None, user):
        if who is not None:
            client.force_login(who)
        for url in STAFF_ONLY:
            response = client.get(url)
            assert response.status_code in (302, 403), (who, url, response.status_code)
            if response.status_code == 302:
                assert "login" in response["Location"], (who, url)
        assert client.post("/ops/", {"action": "resubscribe"}).status_code in (302, 403)
        assert client.post("/ops/", {"action": "resubscribe"}).get("Location", "") != "/ops/"
    client.force_login(User.objects.get(username=demo.username))
    for url in STAFF_ONLY:
        assert client.get(url).status_code == 200, url


def test_wall_tokens_are_long_random_and_stored_only_hashed(db):
    tokens = []
    for number in range(200):
        display = Display(name=f"TV {number}")
        tokens.append(display.issue_token())
        display.save()
    assert len(set(tokens)) == len(tokens)
    assert min(len(t) for t in tokens) >= 43, "at least 256 bits of token"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens), "URL-safe"
    # Shannon entropy of the characters across all tokens: near log2(64) = 6 for random URL-safe base64.
    counts = Counter("".join(tokens))
    total = sum(counts.values())
    entropy = -sum(n / total * math.log2(n / total) for n in counts.values())
    assert entropy > 5.9, f"token characters are not uniformly random ({entropy:.2f} bits/char)"
    stored = set(Display.objects.values_list("token_hash", flat=True))
    assert not stored & set(tokens)
    assert stored == {hash_token(t) for t in tokens}


def test_wall_tokens_are_compared_in_constant_time(db, monkeypatch):
    display = Display(name="TV")
    token = display.issue_token()
    display.save()
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert Display.for_token(token) == display
    assert compared and compared[-1] == (display.token_hash, hash_token(token))
    assert Display.for_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None


def test_a_revoked_or_reissued_token_stops_working(client, demo):
    display, token = demo.display, demo.wall_token
    assert client.get(f"/wall/{token}/").status_code == 200
    new_token = display.issue_token()
    display.save()
    assert client.get(f"/wall/{token}/").status_code == 403
    assert client.get(f"/wall/{new_token}/").status_code == 200
    display.revoked = True
    display.save()
    assert client.get(f"/wall/{new_token}/").status_code == 403


def test_wall_tokens_never_reach_the_logs(client, demo, caplog):
    caplog.set_level(logging.DEBUG)
    token = demo.wall_token
    client.get(f"/wall/{token}/")
    display = demo.display
    display.revoked = True
    display.save()
    client.get(f"/wall/{token}/")  # refused: 403
    client.get(f"/wall/{token}x/")  # unknown token
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert token not in text, [line for line in text.splitlines() if token in line][:3]


def test_every_post_needs_a_csrf_token(demo):
    staff = User.objects.get(username=demo.username)
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/accounts/login/", {"username": demo.username, "password": demo.password}).status_code == 403
    strict.force_login(staff)
    display = demo.display
    dashboard = Dashboard.objects.get(slug="overview")
    posts = {
        "/ops/": {"action": "resubscribe"},
        "/accounts/logout/": {},
        "/admin/dashboard/dashboard/import/": {},
        f"/admin/dashboard/display/{display.pk}/reload/": {},
        f"/admin/dashboard/dashboard/{dashboard.pk}/change/": {"title": "Hacked"},
        "/admin/dashboard/display/": {"action": "revoke", "_selected_action": [display.pk]},
        "/admin/statsbridge/statistic/add/": {"object_type": "Queue", "object_id": "x", "name": "CallsWaiting"},
    }
    for url, data in posts.items():
        assert strict.post(url, data).status_code == 403, url
    display.refresh_from_db()
    dashboard.refresh_from_db()
    assert not display.revoked and dashboard.title != "Hacked"


def _post_forms(html: str) -> list[str]:
    return re.findall(r"<form\b[^>]*method=\"?post\"?[^>]*>.*?</form>", html, flags=re.S | re.I)


@pytest.mark.parametrize("url", ["/accounts/login/", "/ops/", "/admin/dashboard/display/fleet/",
                                 "/admin/dashboard/dashboard/import/", "/admin/dashboard/widget/add/",
                                 "/admin/dashboard/display/", "/admin/statsbridge/statistic/add/"])
def test_every_post_form_carries_the_csrf_token(client, demo, url):
    if url != "/accounts/login/":
        client.force_login(User.objects.get(username=demo.username))
    html = client.get(url).content.decode()
    forms = _post_forms(html)
    assert forms, f"no POST form on {url}"
    for form in forms:
        assert 'name="csrfmiddlewaretoken"' in form, form[:200]
