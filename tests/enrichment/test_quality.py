"""The quality score's rules, dimensions and weighting: pure logic, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from enrichment.quality import (
    WEIGHTS,
    Outcome,
    assess,
    completeness,
    freshness,
    parse_company_size,
    rule_email_company_consistency,
    rule_email_format,
    rule_linkedin_format,
    rule_name_email_consistency,
    rule_phone_format,
    rule_seniority_vs_company_size,
    source_confidence,
    timeliness,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

COMPLETE = {
    "first_name": "José",
    "last_name": "García-López",
    "email": "jose.garcia@acme.com",
    "phone": "+442079460958",
    "mobile_phone": "+14155552671",
    "title": "VP Sales",
    "seniority": "vp",
    "department": "sales",
    "company_name": "Acme Inc",
    "domain": "acme.com",
    "linkedin_url": "https://www.linkedin.com/in/jgl",
    "country": "GB",
    "company_size": "201-500",
    "industry": "Software",
}


# --- email format ---


def test_email_format_passes_a_well_formed_address():
    result = rule_email_format({"email": "Ada@Acme.com"})
    assert result.outcome == Outcome.PASSED
    assert "ada@acme.com" in result.reason


@pytest.mark.parametrize("email", ["ada@", "ada at acme.com", "ada@acme", "a..b@acme.com"])
def test_email_format_fails_a_malformed_address(email):
    result = rule_email_format({"email": email})
    assert result.outcome == Outcome.FAILED
    assert email in result.reason


def test_email_format_does_not_apply_without_an_email():
    assert rule_email_format({"email": ""}).outcome == Outcome.NOT_APPLICABLE


# --- phone format ---


def test_phone_format_passes_valid_e164_numbers():
    result = rule_phone_format({"phone": "+442079460958", "mobile_phone": "+14155552671"})
    assert result.outcome == Outcome.PASSED


def test_phone_format_fails_a_valid_number_not_written_in_e164_and_says_how_it_should_be():
    result = rule_phone_format({"phone": "020 7946 0958", "country": "GB"})
    assert result.outcome == Outcome.FAILED
    assert "+442079460958" in result.reason


@pytest.mark.parametrize("number", ["12345", "call me", "+44 99"])
def test_phone_format_fails_what_is_not_a_valid_number(number):
    result = rule_phone_format({"mobile_phone": number})
    assert result.outcome == Outcome.FAILED
    assert repr(number) in result.reason


def test_phone_format_checks_every_number_present():
    result = rule_phone_format({"phone": "+442079460958", "mobile_phone": "nope"})
    assert result.outcome == Outcome.FAILED


def test_phone_format_does_not_apply_without_a_number():
    assert rule_phone_format({"city": "London"}).outcome == Outcome.NOT_APPLICABLE


# --- LinkedIn format ---


def test_linkedin_format_passes_a_profile_url():
    result = rule_linkedin_format({"linkedin_url": "https://www.linkedin.com/in/ada-lovelace/"})
    assert result.outcome == Outcome.PASSED
    assert "linkedin.com/in/ada-lovelace" in result.reason


@pytest.mark.parametrize(
    "url", ["https://www.linkedin.com/company/acme", "https://example.com/in/ada", "ada"]
)
def test_linkedin_format_fails_anything_but_a_profile(url):
    assert rule_linkedin_format({"linkedin_url": url}).outcome == Outcome.FAILED


def test_linkedin_format_does_not_apply_without_a_url():
    assert rule_linkedin_format({}).outcome == Outcome.NOT_APPLICABLE


# --- email-company consistency ---


@pytest.mark.parametrize("domain", ["acme.com", "https://www.acme.com/about", "eu.acme.com"])
def test_email_company_passes_an_address_at_the_company_domain(domain):
    result = rule_email_company_consistency({"email": "ada@mail.acme.com", "domain": domain})
    assert result.outcome == Outcome.PASSED


def test_email_company_fails_an_address_at_another_domain():
    result = rule_email_company_consistency({"email": "ada@other.io", "domain": "acme.com"})
    assert result.outcome == Outcome.FAILED
    assert "other.io" in result.reason and "acme.com" in result.reason


def test_email_company_fails_a_personal_mailbox():
    result = rule_email_company_consistency({"email": "ada@gmail.com", "company_name": "Acme"})
    assert result.outcome == Outcome.FAILED
    assert "personal" in result.reason


@pytest.mark.parametrize("company", ["Acme Inc.", "ACME Corporation", "The Acme Group", "Acmé"])
def test_email_company_compares_the_company_name_when_there_is_no_domain(company):
    result = rule_email_company_consistency({"email": "ada@acme.co.uk", "company_name": company})
    assert result.outcome == Outcome.PASSED


def test_email_company_fails_a_company_name_unlike_the_domain():
    result = rule_email_company_consistency({"email": "ada@acme.com", "company_name": "Globex"})
    assert result.outcome == Outcome.FAILED


@pytest.mark.parametrize(
    "values", [{"email": "ada@acme.com"}, {"email": "broken", "domain": "acme.com"}, {}]
)
def test_email_company_does_not_apply_without_both_sides(values):
    assert rule_email_company_consistency(values).outcome == Outcome.NOT_APPLICABLE


# --- name-email consistency ---


@pytest.mark.parametrize(
    "email",
    [
        "jose.garcialopez@acme.com",
        "jgarcia@acme.com",
        "jose@acme.com",
        "lopez.j@acme.com",
        "Jose.Garcia-Lopez+news@acme.com",
    ],
)
def test_name_email_passes_when_the_local_part_holds_a_name(email):
    values = {"first_name": "José", "last_name": "García-López", "email": email}
    assert rule_name_email_consistency(values).outcome == Outcome.PASSED


def test_name_email_knows_nicknames_and_full_names():
    values = {"full_name": "William Smith", "email": "bill@acme.com"}
    assert rule_name_email_consistency(values).outcome == Outcome.PASSED


def test_name_email_fails_a_stranger_s_address():
    values = {"first_name": "Ada", "last_name": "Lovelace", "email": "ghopper@acme.com"}
    result = rule_name_email_consistency(values)
    assert result.outcome == Outcome.FAILED
    assert "ada" in result.reason and "lovelace" in result.reason


def test_name_email_fails_a_role_address():
    values = {"first_name": "Ada", "last_name": "Lovelace", "email": "sales@acme.com"}
    result = rule_name_email_consistency(values)
    assert result.outcome == Outcome.FAILED
    assert "role" in result.reason


@pytest.mark.parametrize(
    "values",
    [
        {"email": "ada@acme.com"},
        {"first_name": "Ada", "email": ""},
        {"first_name": "R2D2", "last_name": "Droid", "email": "r2@acme.com"},
    ],
)
def test_name_email_does_not_apply_without_a_name_and_an_address(values):
    assert rule_name_email_consistency(values).outcome == Outcome.NOT_APPLICABLE


# --- seniority vs company size ---


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("51-200", 200),
        ("1,001-5,000 employees", 5000),
        ("10000+", 10000),
        ("250", 250),
        ("n/a", None),
    ],
)
def test_company_size_reads_the_top_of_a_range(text, size):
    assert parse_company_size(text) == size


@pytest.mark.parametrize(
    "values",
    [
        {"title": "VP of Engineering", "company_size": "10"},
        {"title": "Chief Financial Officer", "company_size": "2-10"},
        {"title": "CTO", "company_size": "11-20"},
        {"title": "Head of Sales", "seniority": "c_suite", "company_size": "30"},
        {"title": "Vice President, Marketing", "company_size": "1-10"},
    ],
)
def test_seniority_fails_a_vp_or_c_level_at_a_small_company(values):
    result = rule_seniority_vs_company_size(values)
    assert result.outcome == Outcome.FAILED
    assert "< 50" in result.reason


def test_seniority_passes_a_vp_at_a_company_of_fifty_or_more():
    result = rule_seniority_vs_company_size({"title": "VP Sales", "company_size": "51-200"})
    assert result.outcome == Outcome.PASSED


def test_seniority_passes_a_founder_ceo_at_a_small_company():
    result = rule_seniority_vs_company_size({"title": "Founder & CEO", "company_size": "5"})
    assert result.outcome == Outcome.PASSED


@pytest.mark.parametrize(
    "values",
    [
        {"title": "Director of Product", "company_size": "10"},  # "cto" inside "director"
        {"title": "Engineer", "company_size": "10"},
        {"title": "CEO"},
        {"title": "CEO", "company_size": "unknown"},
    ],
)
def test_seniority_does_not_apply_to_other_roles_or_unknown_sizes(values):
    assert rule_seniority_vs_company_size(values).outcome == Outcome.NOT_APPLICABLE


# --- dimensions and weighting ---


def test_the_weights_are_the_seed_s_and_add_up_to_one():
    assert WEIGHTS == {
        "accuracy": 0.35,
        "completeness": 0.25,
        "consistency": 0.20,
        "timeliness": 0.10,
        "confidence": 0.10,
    }
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


def test_completeness_weighs_required_fields_over_optional_ones():
    assert completeness(COMPLETE) == pytest.approx(100)
    assert completeness({}) == 0
    required_only = {
        "full_name": "Ada Lovelace",
        "email": "ada@acme.com",
        "domain": "acme.com",
        "title": "CTO",
    }
    assert completeness(required_only) == pytest.approx(70)
    assert completeness({"industry": "Software"}) == pytest.approx(30 / 7)


def test_freshness_falls_from_100_at_a_month_to_0_at_a_year():
    assert freshness(NOW - timedelta(days=3), NOW) == 100
    assert freshness(NOW - timedelta(days=30), NOW) == 100
    assert freshness(NOW - timedelta(days=365), NOW) == 0
    assert freshness(NOW - timedelta(days=900), NOW) == 0
    assert freshness(NOW - timedelta(days=197.5), NOW) == pytest.approx(50)


def test_timeliness_averages_the_dates_of_present_values_and_reads_iso_strings():
    evidence = {
        "email": {"found_at": (NOW - timedelta(days=1)).isoformat()},
        "title": {"found_at": NOW - timedelta(days=400)},
        "phone": {"found_at": NOW - timedelta(days=400)},  # no phone value: ignored
        "city": {"found_at": "not a date"},
    }
    values = {"email": "ada@acme.com", "title": "CTO", "city": "London"}
    assert timeliness(values, evidence, NOW) == pytest.approx(50)


def test_confidence_averages_what_the_sources_reported_for_present_values():
    evidence = {
        "email": {"source": "hunter", "confidence": 90},
        "title": {"source": "apollo", "confidence": 60},
        "phone": {"source": "pdl", "confidence": 10},  # no phone value: ignored
        "city": {"source": "csv", "confidence": "high"},  # not a number: ignored
    }
    values = {"email": "ada@acme.com", "title": "CTO", "city": "London"}
    assert source_confidence(values, evidence) == pytest.approx(75)


def test_a_complete_fresh_consistent_contact_scores_100():
    evidence = {f: {"source": "apollo", "confidence": 100, "found_at": NOW} for f in COMPLETE}
    report = assess(COMPLETE, evidence, now=NOW)
    assert report.dimensions == dict.fromkeys(WEIGHTS, 100)
    assert report.score == 100
    assert {r.outcome for r in report.rules} == {Outcome.PASSED}


def test_an_empty_contact_scores_0_and_every_rule_says_why_it_does_not_apply():
    report = assess({})
    assert report.score == 0
    assert len(report.rules) == 6
    assert all(r.outcome == Outcome.NOT_APPLICABLE and r.reason for r in report.rules)


def test_the_score_is_the_weighted_sum_of_the_dimensions():
    values = {**COMPLETE, "phone": "020 7946 0958", "company_size": "11-20"}
    evidence = {"email": {"confidence": 80, "found_at": NOW - timedelta(days=197.5)}}
    report = assess(values, evidence, now=NOW)
    # Accuracy: phone (error, 3) failed of email, phone, LinkedIn (3 each) → 6/9.
    # Consistency: seniority (warning, 2) failed of 2 + 1 + 2 → 3/5.
    assert report.dimensions == {
        "accuracy": 67,
        "completeness": 100,
        "consistency": 60,
        "timeliness": 50,
        "confidence": 80,
    }
    expected = 0.35 * 600 / 9 + 0.25 * 100 + 0.20 * 60 + 0.10 * 50 + 0.10 * 80
    assert report.score == round(expected)


def test_the_report_is_json_ready():
    data = assess(COMPLETE, now=NOW).as_dict()
    assert set(data) == {"score", "dimensions", "rules"}
    assert data["rules"][0] == {
        "name": "email_format",
        "outcome": "passed",
        "severity": "error",
        "reason": "jose.garcia@acme.com is well formed",
    }
