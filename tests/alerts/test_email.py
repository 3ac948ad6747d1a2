"""Email notifications through Django's email framework to a real local SMTP server
(aiosmtpd on 127.0.0.1, with a login), and a refused login as a clear failure."""

import email
import logging

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from alerts import delivery
from alerts.engine import AlertEngine
from alerts.models import Delivery, Rule, Target
from statsbridge import frames
from statsbridge.aio import SyncRunner
from statsbridge.observers import Observation
from statsbridge.wanted import load_routes
from tests.consumers.test_consumers import make_dashboard
from tests.waiting import eventually, free_port

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "smtp-password-0123"


class Mailbox:
    """An SMTP handler keeping every message it accepts."""

    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.recipients.append(list(envelope.rcpt_tos))
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"alerts" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture
def mailbox(settings):
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=authenticate,
                            auth_require_tls=False)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "alerts", PASSWORD
    settings.DEFAULT_FROM_EMAIL = "alerts@example.test"
    yield box
    controller.stop()


def setup_rule():
    dashboard, keys = make_dashboard()
    target = Target.objects.create(name="supervisors", kind=Target.EMAIL, emails="sup@example.test, lead@example.test",
                                   attempts=2)
    rule = Rule.objects.create(name="stale floor", severity="warning", kind=Rule.STALE, stale_seconds=0)
    rule.dashboards.add(dashboard)
    rule.targets.add(target)
    return keys


async def fire(runner):
    keys = await runner(setup_rule)
    routes = await runner(load_routes)
    values = {k: frames.value(kind="number", value=1, text="1", state="stale", timestamp=1, received=1) for k in keys}
    connection = {"upstream": "connected", "service": "AVAILABLE", "bridge": "up"}
    engine = AlertEngine(runner)
    await engine.observe(Observation(values, routes, connection, True, 1_000))
    await eventually(lambda: not engine.sending, 10, "the email sent")
    await engine.close()


async def test_a_firing_alert_is_emailed_through_smtp(mailbox):
    runner = SyncRunner("test-email")
    try:
        await fire(runner)
        assert await runner(lambda: list(Delivery.objects.values_list("status", "attempts"))) == [("sent", 1)]
    finally:
        await runner.close()
    assert mailbox.recipients == [["sup@example.test", "lead@example.test"]]
    message = mailbox.messages[0]
    assert message["Subject"] == "[WARNING] stale floor firing: floor"
    assert message["From"] == "alerts@example.test"
    body = message.get_payload(decode=True).decode()
    assert "Data on Floor stale for more than 0 s: 2 statistics stale" in body
    assert "Acknowledge: http://127.0.0.1:8000/alerts/" in body


async def test_an_unreachable_mail_server_is_a_clear_failure_without_the_password(mailbox, settings, caplog,
                                                                                 monkeypatch):
    settings.EMAIL_PORT = free_port()  # nobody listens there
    monkeypatch.setattr(delivery, "backoff_seconds", lambda attempt: 0.01)
    runner = SyncRunner("test-email")
    try:
        with caplog.at_level(logging.WARNING, logger="alerts"):
            await fire(runner)
        status, attempts, error = await runner(lambda: Delivery.objects.values_list("status", "attempts", "last_error").get())
    finally:
        await runner.close()
    assert (status, attempts) == ("failed", 2)
    assert error == "the mail server refused it (ConnectionRefusedError)"
    assert mailbox.messages == []
    assert len([r for r in caplog.records if r.name.startswith("alerts")]) == 1
    assert PASSWORD not in caplog.text
