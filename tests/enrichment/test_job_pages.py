"""The job pages through the Django test client: upload and mapping review, the job page and
its live fragment, cancel/resume/retry, the CSV export, and who may see what.

alice is the superuser who owns the jobs; bob is staff without permissions; charlie has an
account but no staff rights; dave is staff who may view contacts but not other people's jobs.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from enrichment import jobs, uploads
from enrichment.models import EnrichmentJob, ItemStatus, JobItem, JobStatus
from tests.factories import ProviderFactory

pytestmark = pytest.mark.django_db

LEADS = (
    "First Name,Last Name,Org,Title\n"
    "Ada,Lovelace,analytical.example,Countess\n"
    "Grace,Hopper,navy.example,Rear Admiral\n"
    ",,nobody.example,Nobody\n"
)


@pytest.fixture(autouse=True)
def private_var(settings, tmp_path):
    """Uploads land in a directory of this test's own."""
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def dave(django_user_model):
    user = django_user_model.objects.create_user("dave", "dave@example.org", "dave-pw")
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_enrichedcontact"))
    return user


def _csv_file(text: str = LEADS, name: str = "leads.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def _upload(client, text: str = LEADS, **extra):
    data = {"file": _csv_file(text), "name": "", "fields": ["email"], **extra}
    return client.post("/jobs/new/", data)


def _job(user, rows=None, **kwargs) -> EnrichmentJob:
    rows = rows or [
        {"First Name": "Ada", "Last Name": "Lovelace", "Org": "analytical.example"},
        {"First Name": "", "Last Name": "", "Org": "nobody.example"},
    ]
    return jobs.job_create(
        rows=rows,
        headers=list(rows[0]),
        mapping={"first_name": "First Name", "last_name": "Last Name", "domain": "Org"},
        name="October leads",
        offline=True,
        created_by=user,
        via="browser",
        **kwargs,
    )


def _export(client, url: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- upload and mapping review ---------------------------------------------------------------


def test_it_uploads_reviews_the_mapping_and_starts_the_job_with_the_correction(
    alice_client, alice, private_var, django_capture_on_commit_callbacks
):
    response = _upload(alice_client, name="Q4 leads", cost_cap="2.50", min_confidence="60")
    assert response.status_code == 302
    review_url = response["Location"]
    assert review_url.startswith("/jobs/new/")
    assert len(list((private_var / "uploads").iterdir())) == 1

    page = alice_client.get(review_url).content.decode()
    # "Org" is recognised as the company name; its values are domains, which the user fixes.
    assert '<option value="company_name" selected>' in page
    assert "analytical.example" in page and "Rear Admiral" in page  # sample rows

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = alice_client.post(
            review_url,
            {"map_0": "first_name", "map_1": "last_name", "map_2": "domain", "map_3": "title"},
        )
    job = EnrichmentJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.options["mapping"] == {
        "first_name": "First Name",
        "last_name": "Last Name",
        "domain": "Org",
        "title": "Title",
    }
    assert job.options["headers"] == ["First Name", "Last Name", "Org", "Title"]
    assert job.options["via"] == "browser"
    assert job.options["min_confidence"] == 60
    assert (job.name, job.created_by, str(job.cost_cap)) == ("Q4 leads", alice, "2.5000")
    assert job.items.count() == 3
    assert job.items.get(index=1).input["Title"] == "Rear Admiral"
    assert len(queued) >= 1  # the work is queued once the job is committed
    assert list((private_var / "uploads").iterdir()) == []  # the draft is gone
    # The review page cannot start the same upload twice.
    again = alice_client.get(review_url)
    assert again.status_code == 302 and again["Location"] == "/jobs/new/"


def test_a_completion_webhook_is_kept_with_the_job_only_when_it_can_be_signed(
    alice_client, settings
):
    settings.ENRICH_WEBHOOK_SECRET = ""
    refused = _upload(alice_client, webhook_url="https://hooks.example/leads")
    assert "set ENRICH_WEBHOOK_SECRET" in refused.content.decode()

    settings.ENRICH_WEBHOOK_SECRET = "whsec"
    review_url = _upload(alice_client, webhook_url="https://hooks.example/leads")["Location"]
    alice_client.post(review_url, {"map_0": "first_name", "map_1": "last_name", "map_2": "domain"})

    assert EnrichmentJob.objects.get().options["webhook_url"] == "https://hooks.example/leads"


def test_a_bad_file_gets_a_one_line_error_on_the_form_and_no_job(alice_client, private_var):
    data = {"file": SimpleUploadedFile("leads.csv", b"\x89PNG\r\n\x1a\n" + bytes(200))}
    response = alice_client.post("/jobs/new/", {**data, "name": "", "fields": ["email"]})
    body = response.content.decode()
    assert response.status_code == 200
    assert "leads.csv: not a text CSV" in body
    assert not EnrichmentJob.objects.exists()
    assert not (private_var / "uploads").exists() or not list((private_var / "uploads").iterdir())


def test_an_unusable_row_is_shown_before_the_start_and_skipped_with_its_reason(alice_client):
    review_url = _upload(
        alice_client, LEADS + "Alan,Turing,bletchley.example,Cryptanalyst,extra\n"
    )["Location"]
    page = alice_client.get(review_url).content.decode()
    assert "1 row cannot be used" in page and "line 5: 5 values for 4 columns" in page

    alice_client.post(review_url, {"map_0": "first_name", "map_1": "last_name", "map_2": "domain"})

    job = EnrichmentJob.objects.get()
    assert job.total_items == 4
    skipped = job.items.get(status=ItemStatus.SKIPPED, error__startswith="line 5")
    assert skipped.error == "line 5: 5 values for 4 columns"


def test_a_file_over_the_limit_is_refused_with_its_size(alice_client, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 1024 * 1024)
    big = LEADS + ("Ada,Lovelace,analytical.example,Countess\n" * 40_000)
    body = _upload(alice_client, big).content.decode()
    assert "the limit is 1.0 MB" in body
    assert not EnrichmentJob.objects.exists()


def test_the_mapping_review_refuses_a_field_chosen_twice_and_a_file_without_names(alice_client):
    review_url = _upload(alice_client)["Location"]
    twice = alice_client.post(review_url, {"map_0": "first_name", "map_1": "first_name"})
    assert (
        "first_name is chosen for two columns: &#x27;First Name&#x27; and &#x27;Last Name&#x27;"
        in (twice.content.decode())
    )
    nameless = alice_client.post(review_url, {"map_2": "domain"})
    assert "Map a name column" in nameless.content.decode()
    assert not EnrichmentJob.objects.exists()


def test_an_unknown_provider_is_refused_on_the_form(alice_client):
    ProviderFactory(slug="off", enabled=False)
    body = _upload(alice_client, providers=["off"]).content.decode()
    assert "Select a valid choice" in body
    assert not EnrichmentJob.objects.exists()


def test_another_users_upload_cannot_be_reviewed(alice_client, client, django_user_model):
    review_url = _upload(alice_client)["Location"]
    erin = django_user_model.objects.create_superuser("erin", "erin@example.org", "erin-pw")
    client.force_login(erin)
    response = client.get(review_url)
    assert response.status_code == 302 and response["Location"] == "/jobs/new/"
    response = client.post(review_url, {"map_0": "full_name"})
    assert not EnrichmentJob.objects.exists()


# --- the job page ---------------------------------------------------------------------------


def test_the_job_page_shows_progress_counts_spend_and_the_log(alice_client, alice):
    job = _job(alice)
    EnrichmentJob.objects.filter(pk=job.pk).update(
        status=JobStatus.PROCESSING, processed_items=1, succeeded_items=1, cost="0.0400"
    )
    from enrichment.events import job_event

    job_event(job.pk, "enrichment_started", "started")
    body = alice_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "October leads" in body
    assert 'max="2" value="1"' in body and "50%" in body
    assert '<dd id="job-cost">0.0400</dd>' in body
    assert "started" in body
    assert 'hx-trigger="every 1s"' in body  # polls while it runs
    assert f"/ws/jobs/{job.pk}/" in body
    assert "Cancel job" in body


def test_the_htmx_poll_gets_only_the_status_fragment_and_stops_when_done(alice_client, alice):
    job = _job(alice)
    fragment = alice_client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="job-status"')
    assert "<html" not in fragment
    jobs.job_work(job_id=job.pk)
    fragment = alice_client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "100%" in fragment
    assert "hx-get" not in fragment  # a finished job is not polled
    assert "Error report (1 row failed or skipped)" in fragment


def test_a_paused_job_shows_its_reason_and_resumes(
    alice_client, alice, django_capture_on_commit_callbacks
):
    job = _job(alice)
    EnrichmentJob.objects.filter(pk=job.pk).update(status=JobStatus.PROCESSING)
    jobs.job_pause(job_id=job.pk, reason="project budget reached; raise it to resume")
    body = alice_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Paused: project budget reached; raise it to resume" in body
    assert "Resume" in body
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = alice_client.post(f"/jobs/{job.pk}/resume")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.status == JobStatus.PROCESSING and job.error_message == ""
    assert queued
    assert "Job resumed." in alice_client.get(f"/jobs/{job.pk}/").content.decode()


def test_cancel_needs_a_post_and_skips_what_is_left(alice_client, alice):
    job = _job(alice)
    assert alice_client.get(f"/jobs/{job.pk}/cancel").status_code == 405
    response = alice_client.post(f"/jobs/{job.pk}/cancel")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert set(job.items.values_list("status", flat=True)) == {ItemStatus.SKIPPED}


def test_cancel_without_the_csrf_token_is_refused(alice):
    from django.test import Client

    job = _job(alice)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(f"/jobs/{job.pk}/cancel").status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING


def test_retry_failed_puts_dead_letters_back(
    alice_client, alice, django_capture_on_commit_callbacks
):
    job = _job(alice)
    jobs.job_work(job_id=job.pk)
    item = job.items.get(index=0)
    JobItem.objects.filter(pk=item.pk).update(status=ItemStatus.FAILED, error="boom")
    EnrichmentJob.objects.filter(pk=job.pk).update(failed_items=1, succeeded_items=0)
    assert "Retry 1 failed row" in alice_client.get(f"/jobs/{job.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        alice_client.post(f"/jobs/{job.pk}/retry-failed")
    item.refresh_from_db()
    assert item.status == ItemStatus.PENDING and queued
    job.refresh_from_db()
    assert job.status == JobStatus.PROCESSING


def test_the_home_page_links_jobs_and_a_new_job(alice_client, alice):
    job = _job(alice)
    body = alice_client.get("/").content.decode()
    assert f'href="/jobs/{job.pk}/"' in body
    assert 'href="/jobs/new/"' in body


# --- export ---------------------------------------------------------------------------------


def test_the_export_has_input_columns_then_fields_and_email_results(alice_client, alice):
    job = _job(alice)
    jobs.job_work(job_id=job.pk)
    rows = _export(alice_client, f"/jobs/{job.pk}/export.csv")
    assert rows[0][:3] == ["First Name", "Last Name", "Org"]
    assert {"first_name", "last_name", "email", "email_status", "email_reason"} <= set(rows[0])
    assert [r[0] for r in rows[1:]] == ["Ada", ""]


def test_the_export_takes_chosen_columns_in_the_chosen_order(alice_client, alice):
    job = _job(alice)
    jobs.job_work(job_id=job.pk)
    url = f"/jobs/{job.pk}/export.csv"
    chosen = _export(
        alice_client,
        f"{url}?col=Org&col=First+Name&col=row_number&at:Org=3&at:First+Name=1&at:row_number=2",
    )
    assert chosen[0] == ["First Name", "row_number", "Org"]
    assert chosen[1] == ["Ada", "1", "analytical.example"]
    listed = _export(alice_client, f'{url}?columns=Org,"First Name"')
    assert listed[0] == ["Org", "First Name"]


def test_an_unknown_column_or_status_is_a_clear_400(alice_client, alice):
    job = _job(alice)
    response = alice_client.get(f"/jobs/{job.pk}/export.csv?columns=Org,nope")
    assert response.status_code == 400
    assert response.content.decode().startswith("unknown column(s): nope; the job's columns are:")
    response = alice_client.get(f"/jobs/{job.pk}/export.csv?status=lost")
    assert response.status_code == 400
    assert "unknown status(es): lost" in response.content.decode()


def test_the_export_neutralises_formulas_in_headers_and_cells(alice_client, alice):
    rows = [
        {"=cmd|' /C calc'!A0": "x", "Name": '=HYPERLINK("http://evil")', "Phone": "+1 555 0100"}
    ]
    job = jobs.job_create(
        rows=rows,
        headers=list(rows[0]),
        mapping={"full_name": "Name"},
        name="hostile",
        offline=True,
        created_by=alice,
    )
    exported = _export(alice_client, f"/jobs/{job.pk}/export.csv")
    assert exported[0][0] == "'=cmd|' /C calc'!A0"
    assert exported[1][1] == '\'=HYPERLINK("http://evil")'
    assert exported[1][2] == "+1 555 0100"  # a phone number is not a formula


def test_the_error_report_lists_failed_and_skipped_rows_with_their_reason(alice_client, alice):
    job = _job(alice)
    jobs.job_work(job_id=job.pk)
    response = alice_client.get(f"/jobs/{job.pk}/export.csv?status=failed,skipped")
    assert f'filename="job-{job.pk}-errors.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["row_number", "item_status", "item_error"]
    assert len(rows) == 2
    assert rows[1][:2] == ["2", "skipped"] and rows[1][2]


def test_the_command_and_the_download_write_the_same_file(alice_client, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(LEADS)
    out = tmp_path / "out.csv"
    call_command("enrich", str(source), "-o", str(out), "--offline", "--threads", "1")
    job = EnrichmentJob.objects.get()
    response = alice_client.get(f"/jobs/{job.pk}/export.csv")
    assert b"".join(response.streaming_content) == out.read_bytes()


# --- who may see what -----------------------------------------------------------------------


def test_pages_send_anonymous_visitors_to_log_in(client, alice):
    job = _job(alice)
    for url in ("/jobs/new/", f"/jobs/{job.pk}/", f"/jobs/{job.pk}/export.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_pages_are_refused_to_outsiders_and_staff_without_the_permission(
    client, alice, bob, charlie
):
    job = _job(alice)
    for user in (charlie, bob):
        client.force_login(user)
        for url in ("/jobs/new/", f"/jobs/{job.pk}/", f"/jobs/{job.pk}/export.csv"):
            assert client.get(url).status_code == 403, (user, url)
        assert client.post(f"/jobs/{job.pk}/cancel").status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING


def test_someone_elses_job_is_not_found_and_ones_own_is(client, alice, dave):
    theirs, mine = _job(alice), _job(dave)
    client.force_login(dave)
    for url in (f"/jobs/{theirs.pk}/", f"/jobs/{theirs.pk}/export.csv"):
        assert client.get(url).status_code == 404, url
    for action in ("cancel", "resume", "retry-failed"):
        assert client.post(f"/jobs/{theirs.pk}/{action}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == JobStatus.PENDING
    assert client.get(f"/jobs/{mine.pk}/").status_code == 200
    assert client.get(f"/jobs/{mine.pk}/export.csv").status_code == 200
