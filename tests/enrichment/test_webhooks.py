"""Completion webhooks: signed, sent when a job ends, retried with a log line when the
receiver fails, refused without a secret."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command

from enrichment import jobs, webhooks
from enrichment.models import EnrichmentJob, JobEvent

SECRET = "whsec-test-secret"


class Receiver:
    """A loopback HTTP server that records what it is sent and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server hook's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/enrichment?token=s3cr3t"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def signing(settings):
    settings.ENRICH_WEBHOOK_SECRET = SECRET
    settings.ENRICH_ALLOW_PRIVATE_NETWORKS = True  # the receiver is on loopback
    return settings


def test_signatures_verify_and_tampering_or_age_fails():
    body = b'{"event":"enrichment_completed"}'
    header = webhooks.signature_header(body, secret=SECRET)

    assert webhooks.signature_verify(body, header, secret=SECRET)
    assert not webhooks.signature_verify(body + b" ", header, secret=SECRET)
    assert not webhooks.signature_verify(body, header, secret="other")
    old = webhooks.signature_header(body, secret=SECRET, timestamp=1_000_000_000)
    assert not webhooks.signature_verify(body, old, secret=SECRET)
    assert not webhooks.signature_verify(body, "garbage", secret=SECRET)


@pytest.mark.django_db
def test_the_enrich_command_posts_a_signed_summary_when_its_job_completes(
    signing, tmp_path, django_capture_on_commit_callbacks
):
    source = tmp_path / "in.csv"
    source.write_text("name,domain\nAda Lovelace,acme.example\nGrace Hopper,navy.example\n")
    with Receiver() as receiver, django_capture_on_commit_callbacks(execute=True):
        call_command(
            "enrich", str(source), "-o", str(tmp_path / "out.csv"), "--offline",
            "--webhook", receiver.url,
        )  # fmt: skip

    ((headers, body),) = receiver.received
    assert webhooks.signature_verify(body, headers[webhooks.SIGNATURE_HEADER], secret=SECRET)
    assert headers["X-Leadforge-Event"] == "enrichment_completed"
    payload = json.loads(body)
    job = EnrichmentJob.objects.get()
    assert payload["job"]["id"] == job.pk
    assert payload["job"]["status"] == "completed"
    assert payload["job"]["total_items"] == payload["job"]["processed_items"] == 2
    log = list(job.events.values_list("message", flat=True))
    assert "webhook delivered to 127.0.0.1" in log
    assert not any("s3cr3t" in line for line in log)  # the URL's token stays out of the log


@pytest.mark.django_db
def test_a_cancelled_job_is_reported_too(signing, django_capture_on_commit_callbacks):
    with Receiver() as receiver, django_capture_on_commit_callbacks(execute=True):
        job = jobs.job_create(
            rows=[{"name": "Ada Lovelace", "domain": "acme.example"}],
            mapping={"full_name": "name", "domain": "domain"},
            name="t",
            offline=True,
            webhook_url=receiver.url,
        )
        jobs.job_cancel(job=job)

    ((_, body),) = receiver.received
    assert json.loads(body)["job"]["status"] == "cancelled"


@pytest.mark.django_db
def test_a_failing_receiver_is_retried_then_given_up_with_a_line_in_the_log(
    signing, django_capture_on_commit_callbacks
):
    with Receiver(status=500) as receiver:
        with django_capture_on_commit_callbacks(execute=True):
            job = jobs.job_create(
                rows=[{"name": "Ada Lovelace", "domain": "acme.example"}],
                mapping={"full_name": "name", "domain": "domain"},
                name="t",
                offline=True,
                webhook_url=receiver.url,
            )
            jobs.job_work(job_id=job.pk)  # completes; the first attempt gets a 500
        last = len(webhooks.RETRY_DELAYS)
        assert not webhooks.job_webhook_deliver(job_id=job.pk, delivery="d", attempt=last)

    assert len(receiver.received) == 2
    errors = job.events.filter(kind="error").order_by("pk").values_list("message", flat=True)
    assert list(errors) == [
        "webhook to 127.0.0.1 failed (HTTP 500); again in 10 s",
        f"webhook to 127.0.0.1 failed (HTTP 500) after {last + 1} attempts; not sent",
    ]


@pytest.mark.django_db
def test_a_webhook_to_a_private_address_is_refused_by_the_guard(settings):
    settings.ENRICH_WEBHOOK_SECRET = SECRET
    settings.ENRICH_ALLOW_PRIVATE_NETWORKS = False
    job = jobs.job_create(
        rows=[{"name": "Ada Lovelace", "domain": "acme.example"}],
        mapping={"full_name": "name", "domain": "domain"},
        name="t",
        offline=True,
        webhook_url="http://127.0.0.1:9/hook",
    )

    assert not webhooks.job_webhook_deliver(job_id=job.pk, delivery="d", attempt=9)
    (line,) = JobEvent.objects.filter(job=job, kind="error").values_list("message", flat=True)
    assert "blocked_address" in line


@pytest.mark.django_db
def test_a_webhook_without_a_secret_or_with_a_bad_url_is_refused_in_one_line(settings, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("name,domain\nAda Lovelace,acme.example\n")
    settings.ENRICH_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="set ENRICH_WEBHOOK_SECRET"):
        call_command(
            "enrich", str(source), "-o", str(tmp_path / "o.csv"), "--offline",
            "--webhook", "https://hooks.example/x",
        )  # fmt: skip
    settings.ENRICH_WEBHOOK_SECRET = SECRET
    with pytest.raises(CommandError, match="must be http"):
        call_command(
            "enrich", str(source), "-o", str(tmp_path / "o.csv"), "--offline",
            "--webhook", "javascript:alert(1)",
        )  # fmt: skip
    assert not EnrichmentJob.objects.exists()
