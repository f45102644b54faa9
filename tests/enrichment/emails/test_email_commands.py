"""`enrich`, `verify_emails` and `record_bounces` end to end, on a loopback DNS server."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from contacts.models import ContactEmail, EnrichedContact, GenerationMethod, ReviewStatus
from enrichment.models import DomainPattern, EnrichmentJob, JobItem
from tests.support.dns_server import mail_zone

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def zones(dns_server, settings):
    server = dns_server(
        {
            **mail_zone("acme.example"),
            **mail_zone("globex.example"),
            "nomail.example": {"MX": ["0 ."]},
        }
    )
    settings.ENRICH_DNS_NAMESERVERS = [server.nameserver]
    settings.ENRICH_OFFLINE = False
    cache.clear()
    yield server
    cache.clear()


def _write(tmp_path, name, rows):
    path = tmp_path / name
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerows(rows)
    return path


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _call_with_stderr(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def blind_dns(dns_server, settings):
    """A resolver without outside DNS: NXDOMAIN for every name, even example.com."""
    server = dns_server({}, outside=False)
    settings.ENRICH_DNS_NAMESERVERS = [server.nameserver]
    settings.ENRICH_OFFLINE = False
    cache.clear()
    yield server
    cache.clear()


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


LEADS = [
    ["First Name", "Surname", "Company", "Website", "Work Email", "Notes"],
    ["John", "Smith", "Acme", "https://www.acme.example/team", "jsmith@acme.example", "keep me"],
    ["Mary", "Major", "Acme", "acme.example", "mmajor@acme.example", ""],
    ["Jane", "Doe", "Acme", "acme.example", "", "vip"],
    ["José", "García-López", "Globex", "globex.example", "", ""],
    ["", "", "Nameless", "acme.example", "", ""],
    ["Ann", "Other", "Nowhere", "", "", ""],
    ["Nia", "Null", "No mail", "nomail.example", "", ""],
]


def test_show_mapping_prints_the_inferred_mapping(tmp_path):
    path = _write(tmp_path, "in.csv", LEADS)
    mapping = json.loads(_call("enrich", str(path), "--show-mapping"))
    assert mapping == {
        "first_name": "First Name",
        "last_name": "Surname",
        "email": "Work Email",
        "company_name": "Company",
        "domain": "Website",
    }


def test_enrich_learns_from_rows_with_emails_and_fills_the_others(tmp_path, zones):
    path, out = _write(tmp_path, "in.csv", LEADS), tmp_path / "out.csv"
    summary = _call("enrich", str(path), "-o", str(out))
    rows = _read(out)
    assert len(rows) == 7
    assert list(rows[0])[:6] == LEADS[0]  # every input column kept, in order
    assert {"email", "email_status", "email_confidence", "email_source"} <= set(rows[0])
    assert rows[0]["Notes"] == "keep me"

    jane = rows[2]
    assert jane["email"] == "jdoe@acme.example"  # learned flast from two rows
    assert jane["email_source"] == "pattern"
    assert jane["email_pattern"] == "flast"
    assert jane["email_status"] in {"unknown", "risky"}
    assert "flast (2 known" in jane["email_reason"]
    assert rows[0]["email_source"] == "input"
    assert rows[3]["email"] == "jose.garcialopez@globex.example"  # no evidence: the prior
    assert rows[4]["email_reason"] == "no name"
    assert rows[5]["email_reason"] == "no domain"
    assert rows[6]["email_status"] == "invalid"
    assert "wrote 7 rows" in summary

    assert DomainPattern.objects.get(domain="acme.example").top_pattern == "flast"
    job = EnrichmentJob.objects.get()
    assert (job.total_items, job.processed_items) == (7, 7)
    assert JobItem.objects.filter(job=job).count() == 7
    jane_contact = EnrichedContact.objects.get(first_name="Jane")
    assert jane_contact.review_status == ReviewStatus.PENDING
    stored = jane_contact.emails.get()
    assert stored.email == "jdoe@acme.example" and stored.pattern == "flast"
    assert stored.generation_method == GenerationMethod.PATTERN_DETECTION
    assert sum(f["points"] for f in stored.score_breakdown) == stored.verification_score


def test_a_second_file_learns_from_what_the_first_stored(tmp_path, zones):
    _call("enrich", str(_write(tmp_path, "a.csv", LEADS)), "-o", str(tmp_path / "a_out.csv"))
    second = _write(tmp_path, "b.csv", [["name", "domain"], ["Zed Zulu", "acme.example"]])
    _call("enrich", str(second), "-o", str(tmp_path / "b_out.csv"))
    assert _read(tmp_path / "b_out.csv")[0]["email"] == "zzulu@acme.example"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fields", "email,shoe_size"], "unknown field"),
        (["--providers", "sandbox", "--offline"], "exclude each other"),
        (["--map", "email=Nope"], "no column"),
    ],
)
def test_enrich_rejects_bad_options_with_one_line(tmp_path, args, message):
    path = _write(tmp_path, "in.csv", LEADS)
    with pytest.raises(CommandError, match=message):
        _call("enrich", str(path), "-o", str(tmp_path / "o.csv"), *args)


def test_enrich_rejects_a_broken_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,a\n1,2\n")
    with pytest.raises(CommandError, match="duplicate column"):
        _call("enrich", str(path), "-o", str(tmp_path / "o.csv"))
    with pytest.raises(CommandError, match="cannot read"):
        _call("enrich", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o.csv"))


def test_verify_emails_writes_one_result_per_row(tmp_path, zones):
    path = _write(
        tmp_path,
        "emails.csv",
        [
            ["Email"],
            ["jane@acme.example"],
            ["info@acme.example"],
            ["x@nomail.example"],
            ["x@nowhere.example"],
            ["not-an-email"],
        ],
    )
    out = tmp_path / "out.csv"
    _call("verify_emails", str(path), "-o", str(out))
    rows = _read(out)
    assert list(rows[0]) == [
        "email",
        "status",
        "score",
        "mx_host",
        "catch_all",
        "disposable",
        "role",
        "free_mail",
        "reason",
    ]
    assert [r["status"] for r in rows] == ["unknown", "unknown", "invalid", "invalid", "invalid"]
    assert rows[0]["mx_host"] == "mx.acme.example"
    assert rows[1]["role"] == "true"
    assert "null MX" in rows[2]["reason"] or "does not accept mail" in rows[2]["reason"]
    assert "NXDOMAIN" in rows[3]["reason"]


def test_verify_emails_needs_an_email_column(tmp_path):
    path = _write(tmp_path, "x.csv", [["name"], ["Jane"]])
    with pytest.raises(CommandError, match="no email column"):
        _call("verify_emails", str(path), "-o", str(tmp_path / "o.csv"))


def test_a_bounce_marks_the_address_invalid_and_moves_the_next_guess(tmp_path, zones):
    rows = [
        ["first", "last", "domain", "email"],
        ["John", "Smith", "acme.example", "jsmith@acme.example"],
        ["Jane", "Doe", "acme.example", ""],
        ["Bob", "Ray", "acme.example", ""],
    ]
    _call("enrich", str(_write(tmp_path, "in.csv", rows)), "-o", str(tmp_path / "o.csv"))
    assert ContactEmail.objects.filter(email="jdoe@acme.example").exists()
    bounces = tmp_path / "bounces.txt"
    bounces.write_text("jdoe@acme.example\nbray@acme.example\nnobody@acme.example\n")
    out = _call("record_bounces", str(bounces))
    assert "marked 2 stored address(es) invalid; 1 not stored" in out
    jdoe = ContactEmail.objects.get(email="jdoe@acme.example")
    assert jdoe.verification_status == "invalid" and jdoe.bounced_at is not None
    assert jdoe.contact.activities.filter(action="email_bounced").exists()
    learned = DomainPattern.objects.get(domain="acme.example")
    assert learned.top_pattern != "flast"  # two bounces outweigh one confirmed address

    second = _write(tmp_path, "b.csv", [["name", "domain"], ["Zed Zulu", "acme.example"]])
    _call("enrich", str(second), "-o", str(tmp_path / "b_out.csv"))
    assert _read(tmp_path / "b_out.csv")[0]["email"] != "zzulu@acme.example"


def test_erased_people_are_not_processed_or_stored(tmp_path, zones):
    from contacts.models import Suppression, SuppressionKind, suppression_hash

    Suppression.objects.create(
        kind=SuppressionKind.EMAIL, value_hash=suppression_hash("JSmith@acme.example")
    )
    path, out = _write(tmp_path, "in.csv", LEADS), tmp_path / "out.csv"
    _call("enrich", str(path), "-o", str(out))
    john = _read(out)[0]
    assert john["email_reason"] == "suppressed: this person asked to be erased"
    assert john["email_status"] == ""
    assert not EnrichedContact.objects.filter(first_name="John").exists()


def test_verify_emails_on_blind_dns_says_so_once_and_calls_nothing_invalid(tmp_path, blind_dns):
    path = _write(
        tmp_path, "emails.csv", [["Email"], ["jane@acme.example"], ["bob@globex.example"]]
    )
    out = tmp_path / "out.csv"
    stdout, stderr = _call_with_stderr("verify_emails", str(path), "-o", str(out))
    notices = [line for line in stderr.splitlines() if "DNS unavailable" in line]
    assert len(notices) == 1
    assert notices[0].startswith("DNS unavailable:")
    rows = _read(out)
    assert [r["status"] for r in rows] == ["unknown", "unknown"]
    assert all(int(r["score"]) > 0 and "DNS unavailable" in r["reason"] for r in rows)
    assert "2 unknown" in stdout


def test_enrich_on_blind_dns_says_so_once_and_still_guesses(tmp_path, blind_dns):
    path = _write(tmp_path, "leads.csv", LEADS)
    out = tmp_path / "out.csv"
    _, stderr = _call_with_stderr("enrich", str(path), "-o", str(out))
    assert sum("DNS unavailable" in line for line in stderr.splitlines()) == 1
    jane = _read(out)[2]
    assert jane["email"] == "jdoe@acme.example"
    assert jane["email_status"] != "invalid"
    assert "DNS unavailable" in jane["email_reason"]


def test_running_the_same_file_again_does_not_raise_the_confidence(tmp_path, zones):
    path = _write(tmp_path, "in.csv", LEADS)
    confidences = []
    for run in range(3):
        out = tmp_path / f"out{run}.csv"
        _call("enrich", str(path), "-o", str(out))
        jane = _read(out)[2]
        assert jane["email"] == "jdoe@acme.example"
        confidences.append(jane["email_confidence"])
    assert len(set(confidences)) == 1, confidences
    assert DomainPattern.objects.get(domain="acme.example").examples == 2
