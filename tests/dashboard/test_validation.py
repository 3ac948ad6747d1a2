"""The one validation of the editor and the admin: the grid, and the upstream's word on new statistics."""

import socket
import time

import pytest

from dashboard.validation import KNOWN, REFUSED, UNCHECKED, Box, layout_problems, new_statistic_verdicts
from statsbridge.models import Statistic
from statsbridge.probe import check_statistics


def genesys_of(thread) -> dict:
    config = thread.config
    return {"API_URL": thread.url.rstrip("/"), "API_KEY": config.api_key, "CLIENT_ID": config.client_id,
            "CLIENT_SECRET": config.client_secret, "USERNAME": "", "PASSWORD": ""}


def test_overlapping_boxes_are_named():
    problems = layout_problems([Box("Waiting", 0, 0, 3, 2), Box("Abandoned", 2, 1, 3, 2)], 12)
    assert problems == ["“Waiting” overlaps “Abandoned”: move one of them."]


def test_touching_boxes_do_not_overlap():
    assert layout_problems([Box("A", 0, 0, 3, 2), Box("B", 3, 0, 3, 2), Box("C", 0, 2, 6, 1)], 12) == []


def test_boxes_outside_the_grid_or_empty_are_refused():
    problems = layout_problems([Box("Wide", 10, 0, 3, 1), Box("Flat", 0, 5, 2, 0)], 12)
    assert problems == ["“Wide” does not fit the grid of 12 columns.", "“Flat” must be at least one cell wide and high."]


def test_the_upstream_refuses_a_typo_with_its_message(simulator_thread):
    queue = "VQ_Sales@SIP_Switch"
    verdicts = check_statistics([("Queue", queue, "CallsWaiting"), ("Queue", queue, "CallsAnswerd"),
                                 ("Queue", "VQ_Claims@SIP_Switch", "CallsWaiting")], genesys=genesys_of(simulator_thread))
    assert [v.status for v in verdicts] == [KNOWN, REFUSED, REFUSED]
    assert "CallsAnswerd" in verdicts[1].message
    assert "VQ_Claims@SIP_Switch" in verdicts[2].message


def test_an_unreachable_upstream_is_unchecked_within_the_deadline():
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        verdicts = check_statistics([("Queue", "q", "CallsWaiting")], deadline=1.0,
                                    genesys={"API_URL": url, "API_KEY": "k", "CLIENT_ID": "c", "CLIENT_SECRET": "s"})
    assert time.monotonic() - started < 3.0
    assert verdicts[0].status == UNCHECKED
    assert "did not answer within 1 s" in verdicts[0].message


@pytest.mark.django_db
def test_only_new_statistics_are_asked_about(monkeypatch):
    Statistic.objects.create(object_type="Queue", object_id="q1", name="CallsWaiting")
    asked = []
    monkeypatch.setattr("dashboard.validation.check_statistics", lambda items: asked.extend(items) or [])
    verdicts = new_statistic_verdicts([("Queue", "q1", "CallsWaiting"), ("Queue", "q2", "CallsWaiting")])
    assert asked == [("Queue", "q2", "CallsWaiting")]
    assert verdicts[("Queue", "q1", "CallsWaiting")].status == KNOWN


def test_the_admin_refuses_a_typo_at_the_name_with_the_upstream_message(client, demo, simulator_thread, settings):
    from django.contrib.auth.models import User

    settings.GENESYS = genesys_of(simulator_thread)
    client.force_login(User.objects.get(username=demo.username))
    stat = {"label": "", "object_type": "Queue", "object_id": "VQ_Sales@SIP_Switch", "name": "CallsAnswerd", "definition": ""}
    response = client.post("/admin/statsbridge/statistic/add/", stat)
    assert response.status_code == 200
    assert "The upstream refused it: unknown statistic name &#x27;CallsAnswerd&#x27;" in response.content.decode()
    assert not Statistic.objects.filter(name="CallsAnswerd").exists()
    response = client.post("/admin/statsbridge/statistic/add/", {**stat, "name": "CallsAnswered"})
    assert response.status_code == 302
    assert Statistic.objects.filter(name="CallsAnswered", object_id="VQ_Sales@SIP_Switch").exists()


def test_the_admin_saves_unchecked_statistics_and_says_so(client, demo):
    from django.contrib.auth.models import User

    client.force_login(User.objects.get(username=demo.username))
    stat = {"label": "", "object_type": "Queue", "object_id": "VQ_Sales@SIP_Switch", "name": "CallsAnswered", "definition": ""}
    response = client.post("/admin/statsbridge/statistic/add/", stat, follow=True)
    assert "Saved without the upstream&#x27;s check: the upstream could not be reached" in response.content.decode()
    assert Statistic.objects.filter(name="CallsAnswered").exists()


def test_the_admin_refuses_a_widget_over_another(client, demo):
    from django.contrib.auth.models import User

    from dashboard.models import Dashboard, Widget

    client.force_login(User.objects.get(username=demo.username))
    board = Dashboard.objects.get(slug="overview")
    taken = Widget.objects.filter(dashboard=board).order_by("y", "x").first()
    form = {"dashboard": board.pk, "type": "kpi", "label": "On top", "unit": "", "format": "auto", "interval": "",
            "x": taken.x, "y": taken.y, "w": 2, "h": 1, "direction": "above", "hysteresis": 0, "history_minutes": 30,
            "widgetstatistic_set-TOTAL_FORMS": 0, "widgetstatistic_set-INITIAL_FORMS": 0}
    response = client.post("/admin/dashboard/widget/add/", form)
    assert response.status_code == 200
    assert f"“On top” overlaps “{taken.label}”: move one of them." in response.content.decode()
    assert not Widget.objects.filter(label="On top").exists()
    response = client.post("/admin/dashboard/widget/add/", {**form, "y": 40})
    assert response.status_code == 302
