"""Webhooks are signed, retried on failure and recorded; email goes out too."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django_q.models import Schedule

from rollouts import tasks
from rollouts.models import Rollout, WebhookDelivery
from rollouts.services.notifications import sign, webhook_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 that answers 500 to the first request, then 200."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(500 if len(received) == 1 else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/ota", received
    server.shutdown()
    server.server_close()


def test_a_halt_sends_a_signed_webhook_that_is_retried_and_recorded(
    receiver, publish, ship, engineer_api, settings, django_capture_on_commit_callbacks
):
    settings.OTA_NOTIFY_EMAILS = ["release-team@example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    url, received = receiver
    _, secret = webhook_create(name="ops", url=url)
    bundle, _ = publish()
    _, rollout_id = ship([bundle], "dev")

    with django_capture_on_commit_callbacks(execute=True):
        engineer_api.post(
            f"/api/v1/manage/rollouts/{rollout_id}/halt", {"reason": "crashes"}, format="json"
        )

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.next_attempt_at is not None
    retry = Schedule.objects.get(name=f"webhook-retry-{delivery.pk}-1")
    assert retry.func == "rollouts.tasks.deliver_webhook"

    assert tasks.deliver_webhook(delivery.pk) == "delivered"  # the scheduled retry runs
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (2, 204)

    headers, body = received[-1]
    assert headers["X-OTA-Event"] == "rollout.halted"
    assert abs(int(headers["X-OTA-Timestamp"]) - time.time()) < 60
    assert headers["X-OTA-Signature"] == sign(secret, headers["X-OTA-Timestamp"], body)
    assert headers["X-OTA-Signature"] != sign("wrong", headers["X-OTA-Timestamp"], body)
    payload = json.loads(body)
    assert payload["rollout"]["id"] == rollout_id
    assert payload["rollout"]["halt_reason"]["metric"] == "operator"
    assert payload["rollout"]["halt_description"].startswith("Halted by ")
    assert mail.outbox and "halted" in mail.outbox[0].subject
    assert mail.outbox[0].body.startswith(payload["rollout"]["halt_description"])


def test_a_receiver_that_never_answers_is_given_up_after_the_backoff(publish, ship):
    from rollouts.services.notifications import BACKOFF_MINUTES, webhook_deliver

    webhook_create(name="dead", url="http://127.0.0.1:9/nothing")
    bundle, _ = publish()
    _, rollout_id = ship([bundle], "dev")
    tasks.send_rollout_notifications(rollout_id, "completed", {})
    delivery = WebhookDelivery.objects.get()
    for _ in BACKOFF_MINUTES:
        webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.attempts == len(BACKOFF_MINUTES) + 1
    assert delivery.last_error


def test_only_subscribed_events_are_sent(publish, ship):
    webhook_create(name="halts only", url="http://127.0.0.1:9/x", events=["halted"])
    bundle, _ = publish()
    _, rollout_id = ship([bundle], "dev")
    assert tasks.send_rollout_notifications(rollout_id, "completed", {}) == 0
    assert Rollout.objects.get().pk == rollout_id


def test_the_secret_is_stored_encrypted_and_shown_once_in_the_admin(admin_client):
    response = admin_client.post(
        "/admin/rollouts/webhookendpoint/create/",
        {"name": "ops", "url": "https://ops.example.com/hook", "events": ["halted"]},
    )
    html = response.content.decode()
    secret = html.split('class="webhook-secret">')[1].split("<")[0]
    from rollouts.models import WebhookEndpoint

    assert secret.encode() not in bytes(WebhookEndpoint.objects.get().encrypted_secret)
    assert secret not in admin_client.get("/admin/rollouts/webhookendpoint/").content.decode()
    assert admin_client.get("/admin/rollouts/webhookdelivery/").status_code == 200
