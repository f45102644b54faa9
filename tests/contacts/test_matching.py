"""Match keys are pure functions: no database here."""

import pytest

from contacts.matching import (
    email_key,
    linkedin_key,
    match_keys,
    name_key,
    name_keys,
)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Ada@Acme.COM", "ada@acme.com"),
        ("  ada.lovelace@acme.com \n", "ada.lovelace@acme.com"),
        ("", ""),
        (None, ""),
        ("not an address", ""),
        ("ada@", ""),
        ("@acme.com", ""),
        ("ada@localhost", ""),
        ("ada lovelace@acme.com", ""),
    ],
)
def test_email_key(raw, key):
    assert email_key(raw) == key


@pytest.mark.parametrize(
    "url",
    [
        "https://www.linkedin.com/in/ada-lovelace",
        "https://www.linkedin.com/in/Ada-Lovelace/",
        "http://linkedin.com/in/ada-lovelace?trk=public_profile",
        "linkedin.com/in/ada-lovelace",
        "www.linkedin.com/in/ada-lovelace/#about",
        "https://uk.linkedin.com/in/ada-lovelace",
        "https://www.linkedin.com/in/ada-lovelace/details/experience/",
        "HTTPS://WWW.LINKEDIN.COM/IN/ADA-LOVELACE",
    ],
)
def test_linkedin_key_drops_scheme_host_case_slash_query_and_subpages(url):
    assert linkedin_key(url) == "linkedin.com/in/ada-lovelace"


def test_linkedin_key_reads_percent_encoded_handles():
    url = "https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller-4b2"
    assert linkedin_key(url) == "linkedin.com/in/jürgen-müller-4b2"


@pytest.mark.parametrize(
    "url",
    [
        "",
        None,
        "https://www.linkedin.com/company/acme",
        "https://www.linkedin.com/in/",
        "https://www.linkedin.com/",
        "https://linkedin.com.evil.example/in/ada",
        "https://notlinkedin.com/in/ada",
        "https://www.linkedin.com/in/a%20b",
        "http://[::1",
    ],
)
def test_linkedin_key_is_empty_for_anything_but_a_profile(url):
    assert linkedin_key(url) == ""


@pytest.mark.parametrize(
    "spelling",
    [
        {"first_name": "José", "last_name": "García-López"},
        {"first_name": "JOSE", "last_name": "GARCIA-LOPEZ"},
        {"first_name": "  Jose ", "last_name": "Garcia  Lopez"},
        {"first_name": "jose", "last_name": "garcialopez"},
        {"full_name": "Dr. José García-López"},
        {"full_name": "García-López, José"},
        {"full_name": "José Antonio García-López"},
    ],
)
def test_name_key_folds_accents_case_spacing_hyphens_titles_and_middle_names(spelling):
    assert name_key(**spelling, domain="acme.com") == "jose garcialopez@acme.com"


@pytest.mark.parametrize(
    "spelling",
    [
        {"first_name": "Marco", "last_name": "van der Sar"},
        {"first_name": "Marco", "last_name": "Van Der Sar"},
        {"first_name": "Marco", "last_name": "Vandersar"},
        {"full_name": "Marco van der Sar"},
        {"full_name": "MARCO VAN DER SAR"},
    ],
)
def test_name_key_keeps_particles_in_the_surname_however_written(spelling):
    assert name_key(**spelling, domain="acme.nl") == "marco vandersar@acme.nl"


def test_name_key_normalises_the_domain():
    assert name_key(full_name="Ada Lovelace", domain="https://WWW.Acme.com/team") == (
        "ada lovelace@acme.com"
    )


def test_separate_names_win_over_the_full_name():
    key = name_key(first_name="Ada", last_name="Lovelace", full_name="Grace Hopper", domain="a.io")
    assert key == "ada lovelace@a.io"


@pytest.mark.parametrize(
    "values",
    [
        {"full_name": "Ada Lovelace", "domain": ""},
        {"full_name": "Ada Lovelace", "domain": None},
        {"full_name": "Ada Lovelace", "domain": "not a domain"},
        {"full_name": "Ada Lovelace", "domain": "gmail.com"},
        {"full_name": "Ada", "domain": "acme.com"},
        {"first_name": "Ada", "last_name": "", "domain": "acme.com"},
        {"full_name": "J. Smith", "domain": "acme.com"},
        {"first_name": "Ada7", "last_name": "Lovelace", "domain": "acme.com"},
        {"full_name": "", "domain": "acme.com"},
        # Longer than the key's column: no key rather than a truncated one.
        {"full_name": "Ada " + "Lovelace" * 60, "domain": "acme.com"},
    ],
)
def test_name_key_is_empty_when_it_would_not_single_out_one_person(values):
    assert name_key(**values) == ""


def test_a_longer_full_name_has_both_readings_middle_name_first():
    assert name_keys(full_name="José García López", domain="acme.es") == (
        "jose lopez@acme.es",
        "jose garcialopez@acme.es",
    )


def test_separate_columns_have_one_reading():
    assert name_keys(first_name="José", last_name="García López", domain="acme.es") == (
        "jose garcialopez@acme.es",
    )
    assert name_keys(full_name="Ada Lovelace", domain="acme.com") == ("ada lovelace@acme.com",)
    assert name_keys(full_name="Ada Lovelace", domain="") == ("",)


def test_match_keys_gathers_all_three():
    keys = match_keys(
        email="Ada@Acme.com",
        linkedin_url="https://www.linkedin.com/in/ada/",
        full_name="Ada Lovelace",
        domain="acme.com",
    )
    assert (keys.email, keys.linkedin, keys.name, keys.other_names) == (
        "ada@acme.com",
        "linkedin.com/in/ada",
        "ada lovelace@acme.com",
        (),
    )
