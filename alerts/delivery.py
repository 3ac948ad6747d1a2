"""Sending queued notifications: signed webhooks and email, with timeouts and retries.

A webhook is a JSON POST with ``X-Signature: sha256=<hex HMAC-SHA256 of the body>``
under the target's secret; any 2xx answer counts as delivered, whatever its body. Every
attempt is recorded on the ``Delivery`` (the admin's delivery log shows failures); the
last failure of a delivery is logged once. Secrets never reach a log, an error text or
the delivery log.
"""

import hashlib
import hmac
import json
import logging

import aiohttp
from django.core.mail import get_connection, send_mail
from django.db.models import F
from django.utils import timezone

from alerts.models import Delivery

log = logging.getLogger(__name__)


def signature(secret: str, body: bytes) -> str:
    """The ``X-Signature`` header value of ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict) -> bytes:
    """The exact bytes POSTed (and signed)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def backoff_seconds(attempt: int) -> float:
    """Wait before attempt ``attempt + 1`` (attempt counts from 1): 0.5 s doubling, at most 30 s."""
    return min(30.0, 0.5 * 2 ** (attempt - 1))


class DeliveryFailed(Exception):
    """One attempt failed; the message is safe to store and log (no secret, no body)."""


async def post_webhook(session: aiohttp.ClientSession, target: dict, payload: dict) -> None:
    """POST ``payload`` to a webhook target; raise ``DeliveryFailed`` on anything but a 2xx."""
    body = encode(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "ccdash-alerts"}
    if target["secret"]:
        headers["X-Signature"] = signature(target["secret"], body)
    try:
        async with session.post(target["url"], data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=target["timeout"]),
                                allow_redirects=False) as response:
            await response.read()
            if not 200 <= response.status < 300:
                raise DeliveryFailed(f"the receiver answered HTTP {response.status}")
    except TimeoutError as error:
        raise DeliveryFailed(f"no answer within {target['timeout']:g} s") from error
    except aiohttp.ClientError as error:
        raise DeliveryFailed(f"could not reach the receiver ({type(error).__name__})") from error


def email_text(payload: dict) -> tuple[str, str]:
    """Subject and body of a notification email."""
    subject = f"[{payload['severity'].upper()}] {payload['rule']} {payload['state']}: {payload['dashboard']}"
    lines = [payload["text"], "", f"Rule: {payload['rule']}", f"Dashboard: {payload['dashboard']}",
             f"Statistic: {payload['statistic']}", f"Value: {payload['value']}", f"Since: {payload['since']}",
             "", f"Acknowledge: {payload['url']}"]
    return subject, "\n".join(lines)


def send_email(target: dict, payload: dict) -> None:
    """(Sync.) Send a notification through Django's email framework; raise ``DeliveryFailed``."""
    subject, body = email_text(payload)
    try:
        connection = get_connection(fail_silently=False, timeout=target["timeout"])
        send_mail(subject, body, None, target["emails"], fail_silently=False, connection=connection)
    except Exception as error:
        raise DeliveryFailed(f"the mail server refused it ({type(error).__name__})") from error


def load(delivery_id: int) -> tuple[dict, dict] | None:
    """(Sync.) The target (as a plain dict) and payload of a pending delivery, or None."""
    delivery = Delivery.objects.select_related("target").filter(pk=delivery_id, status=Delivery.PENDING).first()
    if delivery is None:
        return None
    target = delivery.target
    return ({"id": target.pk, "kind": target.kind, "url": target.url, "secret": target.secret,
             "emails": target.email_list(), "timeout": target.timeout_seconds, "attempts": target.attempts,
             "done": delivery.attempts, "name": target.name}, delivery.payload)


def record(delivery_id: int, error: str | None, *, final: bool) -> None:
    """(Sync.) Count one attempt: sent (``error`` None), failed for good (``final``) or to be retried."""
    rows = Delivery.objects.filter(pk=delivery_id)
    if error is None:
        rows.update(status=Delivery.SENT, attempts=F("attempts") + 1, sent_at=timezone.now(), last_error="")
    else:
        rows.update(status=Delivery.FAILED if final else Delivery.PENDING, attempts=F("attempts") + 1,
                    last_error=error[:300])

