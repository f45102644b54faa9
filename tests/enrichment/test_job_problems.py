"""Unusable rows of an input file: each becomes a skipped item with its line and reason, the
rest of the file is enriched, and the job completes with every row accounted for."""

from __future__ import annotations

import csv
import io
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from enrichment import jobs
from enrichment.batch import read_leads
from enrichment.csvio import RowProblem, iter_csv
from enrichment.models import EnrichmentJob, ItemStatus, JobEvent, JobEventKind, JobStatus

pytestmark = pytest.mark.django_db

MAPPING = {"first_name": "first", "last_name": "last", "domain": "domain"}


def test_a_problem_row_is_a_skipped_item_with_its_reason_and_the_rest_is_processed():
    raw = b"first,last,domain\nAda,Lovelace,acme.example\nx,y,z,extra\nGrace,Hopper,navy.example\n"
    with iter_csv(io.BytesIO(raw)) as reader:
        job = jobs.job_create(
            rows=reader, headers=reader.headers, mapping=MAPPING, name="t", offline=True
        )

    assert (job.total_items, job.processed_items) == (3, 1)
    bad = job.items.get(index=1)
    assert (bad.status, bad.error) == (ItemStatus.SKIPPED, "line 3: 4 values for 3 columns")
    assert JobEvent.objects.get(job=job, kind=JobEventKind.ERROR).message == (
        "1 unusable row(s) skipped: line 3: 4 values for 3 columns"
    )

    outcome = jobs.job_work(job_id=job.pk)

    job.refresh_from_db()
    assert outcome.processed == 2
    assert job.status == JobStatus.COMPLETED
    assert (job.processed_items, job.succeeded_items, job.failed_items) == (3, 2, 0)
    assert job.items.get(index=2).output["email"] == "grace.hopper@navy.example"
    report = list(job.items.exclude(error="").values_list("index", "error"))
    assert report == [(1, "line 3: 4 values for 3 columns")]


def test_rows_come_from_any_iterable_and_problems_follow_them():
    rows = ({"first": f"Ada{n}", "last": "Lovelace", "domain": "acme.example"} for n in range(3))
    job = jobs.job_create(
        rows=rows,
        mapping=MAPPING,
        name="t",
        offline=True,
        problems=[RowProblem(9, "field larger than field limit (1048576)")],
    )
    assert list(job.items.values_list("index", "status")) == [
        (0, "pending"),
        (1, "pending"),
        (2, "pending"),
        (3, "skipped"),
    ]
    assert job.items.get(index=3).error.startswith("line 9: field larger")


def test_items_are_written_in_batches_as_the_rows_come(monkeypatch):
    monkeypatch.setattr(jobs, "CREATE_BATCH", 10)
    rows = (
        {"first": "Ada", "last": last, "domain": "acme.example", "email": f"a{last}@acme.example"}
        for last in (f"Lovelace{chr(97 + n // 26)}{chr(97 + n % 26)}" for n in range(95))
    )
    mapping = {**MAPPING, "email": "email"}
    with CaptureQueriesContext(connection) as queries:
        job = jobs.job_create(rows=rows, mapping=mapping, name="t", offline=True)
    inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "enrichment_jobitem"')]
    assert len(inserts) == 10
    assert job.items.count() == job.total_items == 95
    # Every batch's addresses are kept as the file's pattern evidence.
    assert len(job.options["known"]["acme.example"]) == 95


def _call(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_enrich_writes_the_good_rows_and_reports_the_bad_one(tmp_path, settings):
    settings.ENRICH_OFFLINE = True
    path = tmp_path / "in.csv"
    path.write_text(
        "First Name,Last Name,Website,Notes\n"
        "José,García López,acme.example,a\n"
        "Zoë,van Rossum,acme.example,b,unexpected,values\n"
        "Seán,O'Neil,acme.example,c\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"

    stdout, stderr = _call("enrich", str(path), "-o", str(out), "--offline")

    assert "1 unusable row(s) skipped" in stderr
    assert "line 3: 6 values for 4 columns" in stderr
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["Notes"] for r in rows] == ["a", "", "c"]
    assert rows[1]["email_reason"] == "line 3: 6 values for 4 columns"
    # Names keep the file's spelling and case; the address is built from their folded form.
    assert (rows[0]["first_name"], rows[0]["last_name"]) == ("José", "García López")
    assert (rows[2]["first_name"], rows[2]["last_name"]) == ("Seán", "O'Neil")
    assert rows[0]["email"].endswith("@acme.example") and rows[0]["email"].isascii()
    assert "wrote 3 rows" in stdout
    job = EnrichmentJob.objects.get()
    assert job.status == JobStatus.COMPLETED
    assert job.items.get(index=1).status == ItemStatus.SKIPPED


def test_verify_emails_reports_a_bad_row_and_verifies_the_others(tmp_path, settings):
    settings.ENRICH_OFFLINE = True
    path = tmp_path / "in.csv"
    path.write_text("email\nada@acme.example\nx@y.example,z\nbob@acme.example\n")
    out = tmp_path / "out.csv"

    stdout, stderr = _call("verify_emails", str(path), "-o", str(out))

    assert "skipped line 3: 2 values for 1 columns" in stderr
    assert "verified 2 addresses" in stdout


def test_record_bounces_refuses_a_binary_file(tmp_path):
    path = tmp_path / "bounces.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(CommandError, match="not a text CSV: the file is a PNG image"):
        _call("record_bounces", str(path))


def test_a_linkedin_company_page_is_not_taken_for_the_company_website():
    (lead,) = read_leads(
        [{"fullName": "Ada Lovelace", "companyUrl": "https://www.linkedin.com/company/acme/"}],
        {"full_name": "fullName", "domain": "companyUrl"},
    )
    assert lead.domain == ""
    assert lead.problems == ["bad domain: linkedin.com is a social profile, not a website"]
