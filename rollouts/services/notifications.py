"""Telling people: webhooks signed with HMAC-SHA256 (timestamped, retried with backoff by
django-q2, every attempt recorded) and email.

A receiver checks `X-OTA-Signature: sha256=<hex>` = HMAC-SHA256(secret, f"{X-OTA-Timestamp}.{body}")
and refuses timestamps older than a few minutes (replays).
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta
from typing import Any

import urllib3
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from rollouts.models import DeliveryStatus, Rollout, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)
# Minutes to wait before each retry; after the last one the delivery is marked failed.
BACKOFF_MINUTES = [1, 5, 30, 120, 720]
TIMEOUT_SECONDS = 10


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ota webhook secrets").derive(
        settings.OTA_KEY_PASSPHRASE.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def webhook_create(
    *, name: str, url: str, events: list[str] | None = None, secret: str | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; the secret (given, or made here) is returned once."""
    secret = secret or secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(
        name=name,
        url=url,
        events=events or ["halted", "paused", "completed", "gate_waiting"],
        encrypted_secret=_fernet().encrypt(secret.encode()),
    )
    return endpoint, secret


def webhook_secret(endpoint: WebhookEndpoint) -> str:
    try:
        return _fernet().decrypt(bytes(endpoint.encrypted_secret)).decode()
    except InvalidToken:
        raise RuntimeError(f"webhook {endpoint} secret cannot be decrypted") from None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def notify_rollout(*, rollout: Rollout, event: str, detail: dict[str, Any] | None = None) -> None:
    """Queue the news once the current transaction commits (never for a rolled-back change)."""
    transaction.on_commit(
        lambda: async_task(
            "rollouts.tasks.send_rollout_notifications", rollout.pk, event, detail or {}
        )
    )


def send_rollout_notifications(*, rollout_id: int, event: str, detail: dict) -> int:
    rollout = Rollout.objects.select_related("release", "channel").get(pk=rollout_id)
    payload = {
        "event": f"rollout.{event}",
        "rollout": {
            "id": rollout.pk,
            "release": rollout.release.version,
            "channel": rollout.channel.name,
            "status": rollout.status,
            "stage_index": rollout.stage_index,
            "halt_reason": rollout.halt_reason,
            "halt_description": rollout.halt_description,
        },
        "detail": detail,
        "at": timezone.now().isoformat(),
    }
    if settings.OTA_NOTIFY_EMAILS:
        send_mail(
            subject=f"[OTA] {rollout} {event}",
            # A person reads the sentence; the JSON below is what webhooks receive.
            message="\n\n".join(
                part
                for part in (rollout.halt_description, json.dumps(payload, indent=2, default=str))
                if part
            ),
            from_email=None,
            recipient_list=settings.OTA_NOTIFY_EMAILS,
            fail_silently=True,
        )
    deliveries = [
        WebhookDelivery.objects.create(endpoint=endpoint, event=event, payload=payload)
        for endpoint in WebhookEndpoint.objects.filter(active=True)
        if event in endpoint.events
    ]
    for delivery in deliveries:
        webhook_deliver(delivery_id=delivery.pk)
    return len(deliveries)


def webhook_deliver(*, delivery_id: int) -> str:
    """One attempt. On failure, schedule the next with backoff, or give up after the last."""
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if delivery.status != DeliveryStatus.PENDING:
        return delivery.status
    body = json.dumps(delivery.payload, sort_keys=True, default=str).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ota-rollouts/1",
        "X-OTA-Event": f"rollout.{delivery.event}",
        "X-OTA-Delivery": str(delivery.pk),
        "X-OTA-Timestamp": timestamp,
        "X-OTA-Signature": sign(webhook_secret(delivery.endpoint), timestamp, body),
    }
    delivery.attempts += 1
    try:
        answer = urllib3.request(
            "POST",
            delivery.endpoint.url,
            body=body,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            redirect=False,
            retries=False,
        )
        delivery.last_status_code, delivery.last_error = answer.status, ""
        ok = 200 <= answer.status < 300
    except urllib3.exceptions.HTTPError as exc:
        delivery.last_status_code, delivery.last_error, ok = None, str(exc)[:1000], False
    now = timezone.now()
    if ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryStatus.DELIVERED,
            now,
            None,
        )
    elif delivery.attempts > len(BACKOFF_MINUTES):
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        logger.warning("Webhook %s gave up after %s attempts", delivery, delivery.attempts)
    else:
        delivery.next_attempt_at = now + timedelta(minutes=BACKOFF_MINUTES[delivery.attempts - 1])
        schedule(
            "rollouts.tasks.deliver_webhook",
            delivery.pk,
            name=f"webhook-retry-{delivery.pk}-{delivery.attempts}",
            schedule_type=Schedule.ONCE,
            next_run=delivery.next_attempt_at,
            repeats=1,
        )
    delivery.save()
    return delivery.status
