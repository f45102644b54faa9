import pytest

from enrichment.emails import domains
from enrichment.emails.domains import (
    InvalidDomain,
    check_syntax,
    clean_domain,
    is_disposable,
    is_free_mail,
    is_role_account,
    normalise_domain,
    registrable_domain,
    suggest_typo,
)


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("acme.com", "acme.com"),
        ("  ACME.com.  ", "acme.com"),
        ("www.acme.com", "acme.com"),
        ("WWW2.Acme.com", "acme.com"),
        ("https://www.acme.com/about/team?x=1#top", "acme.com"),
        ("http://user:secret@acme.com:8080/", "acme.com"),
        ("acme.com/path", "acme.com"),
        ("acme.com:443", "acme.com"),
        ("john.smith@Acme.COM", "acme.com"),
        ("mailto:john@acme.io", "acme.io"),
        ("mail.acme.co.uk", "mail.acme.co.uk"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("https://www.Bücher.de/", "xn--bcher-kva.de"),
    ],
)
def test_it_cleans_domains(raw, cleaned):
    assert clean_domain(raw) == cleaned


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("localhost", "no top-level domain"),
        ("192.168.1.1", "IP address"),
        ("http://[::1]/", "IP address"),
        ("acme..com", "not a valid international domain name"),
        ("-acme.com", "not a valid international domain name"),
        ("acme_corp.com", "not a valid international domain name"),
        ("acme.123", "numeric top-level domain"),
        ("http://", "no host name"),
        ("a" * 64 + ".com", "not a valid international domain name"),
    ],
)
def test_it_rejects_what_is_not_a_domain(raw, message):
    with pytest.raises(InvalidDomain, match=message):
        clean_domain(raw)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Acme.TEST.", "acme.test"),
        ("  acme.test ", "acme.test"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("jane@Acme.co.uk", "acme.co.uk"),
        ("www.com", "www.com"),  # a name, not a www. prefix
        ("", None),
        ("a..b", None),
        ("x" * 64 + ".test", None),
        ("Acme Inc", None),
        ("localhost", None),
    ],
)
def test_normalise_domain_is_clean_domain_or_none(given, expected):
    assert normalise_domain(given) == expected


def test_the_domain_of_an_address_or_a_mail_host_keeps_its_www():
    assert normalise_domain("WWW.Bücher.de.", keep_www=True) == "www.xn--bcher-kva.de"
    assert clean_domain("www.acme.com", keep_www=True) == "www.acme.com"
    assert clean_domain("www.acme.com") == "acme.com"


def test_invalid_domain_is_a_value_error():
    assert issubclass(InvalidDomain, ValueError)


@pytest.mark.parametrize(
    ("raw", "registrable"),
    [
        ("acme.com", "acme.com"),
        ("mail.eu.acme.com", "acme.com"),
        ("mail.acme.co.uk", "acme.co.uk"),
        ("https://shop.acme.com.au/x", "acme.com.au"),
        ("bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_it_finds_the_registrable_domain_offline(raw, registrable):
    assert registrable_domain(raw) == registrable


def test_it_refuses_a_domain_outside_the_public_suffix_list():
    with pytest.raises(InvalidDomain, match="not under a known public suffix"):
        registrable_domain("acme.notarealtld")


def test_it_accepts_and_normalizes_a_valid_address():
    result = check_syntax(" John.Smith@Bücher.de ")
    assert result.valid is True
    assert result.normalized == "john.smith@bücher.de"
    assert result.local == "john.smith"
    assert result.domain == "xn--bcher-kva.de"
    assert result.reason == ""


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("", "the address is empty"),
        ("john", "must have an @-sign"),
        ("john@acme", "It should have a period"),
        ("john..smith@acme.com", "two periods in a row"),
        ("john smith@acme.com", "invalid characters"),
        ("@acme.com", "something before the @-sign"),
        ("john@acme.test", "special-use or reserved name"),
    ],
)
def test_it_explains_invalid_syntax(email, reason):
    result = check_syntax(email)
    assert result.valid is False
    assert reason in result.reason


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        ("gmail.com", True),
        ("GoogleMail.com", True),
        ("yahoo.com", True),
        ("yahoo.co.uk", True),
        ("hotmail.fr", True),
        ("outlook.com", True),
        ("live.de", True),
        ("gmx.at", True),
        ("web.de", True),
        ("yandex.ru", True),
        ("qq.com", True),
        ("proton.me", True),
        ("icloud.com", True),
        ("acme.com", False),
        ("microsoft.com", False),
        ("google.com", False),
        ("not a domain", False),
    ],
)
def test_it_recognises_free_mail(domain, free):
    assert is_free_mail(domain) is free


def test_it_recognises_disposable_domains():
    assert is_disposable("mailinator.com") is True
    assert is_disposable("MAILINATOR.COM") is True
    assert is_disposable("acme.com") is False
    assert is_disposable("gmail.com") is False
    assert is_disposable("") is False


@pytest.mark.parametrize(
    ("local", "role"),
    [
        ("info", True),
        ("INFO", True),
        ("sales", True),
        ("no-reply", True),
        ("no_reply", True),
        ("noreply", True),
        ("postmaster", True),
        ("hr", True),
        ("sales.uk", True),
        ("support-emea", True),
        ("info2", True),
        ("support+ticket", True),
        ("john.smith", False),
        ("it.johnson", False),
        ("jsmith", False),
        ("hrothgar", False),
    ],
)
def test_it_recognises_role_accounts(local, role):
    assert is_role_account(local) is role


@pytest.mark.parametrize(
    ("domain", "suggestion"),
    [
        ("gmial.com", "gmail.com"),
        ("gmail.con", "gmail.com"),
        ("gmail.co", "gmail.com"),
        ("hotmal.com", "hotmail.com"),
        ("yaho.com", "yahoo.com"),
        ("gmail.com", None),
        ("mail.com", None),
        ("gmx.com", None),
        ("acme.com", None),
        ("not a domain", None),
    ],
)
def test_it_suggests_fixes_for_typos_of_popular_domains(domain, suggestion):
    assert suggest_typo(domain) == suggestion


@pytest.mark.parametrize(
    "address",
    [
        "Jane.Doe@Acme.com",
        "jane..doe@acme.com",
        ".jane@acme.com",
        "jane.@acme.com",
        "jane+tag@acme.com",
        "o'brien@acme.ie",
        "jane@acme",
        "jane@-acme.com",
        "jane@acme..com",
        "jane@localhost",
        "jane@acme.test",
        "jane@bücher.de",
        "jane@xn--bcher-kva.de",
        "x" * 65 + "@acme.com",
        "jane@" + "a" * 64 + ".com",
        "jane@" + ("a" * 60 + ".") * 4 + "com",
        "jane doe@acme.com",
        "jane@acme.com.",
        "jane@[127.0.0.1]",
        "jane@acme_corp.com",
    ],
)
def test_the_fast_path_agrees_with_email_validator(address):
    from email_validator import EmailNotValidError, validate_email

    ours = check_syntax(address)
    try:
        theirs = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        assert not ours.valid, address
    else:
        assert ours.valid and ours.domain == theirs.ascii_domain, address
        assert ours.normalized == f"{theirs.local_part.lower()}@{theirs.domain}"


def test_a_subdomain_of_a_listed_domain_is_listed_too():
    assert is_disposable("inbox.mailinator.com") is True
    assert is_free_mail("mail.yahoo.co.uk") is True
    assert is_free_mail("eu.gmail.com") is True


def test_a_listed_name_counts_only_down_from_the_registrable_domain(monkeypatch):
    # A list entry that is itself a public suffix must not mark every domain under it.
    monkeypatch.setattr(domains, "_DISPOSABLE", {"co.uk", "throwaway-inbox.com"})
    assert domains.is_disposable("acme.co.uk") is False
    assert domains.is_disposable("mx.throwaway-inbox.com") is True


def test_a_wildcard_entry_needs_the_name_itself_not_a_label_lower_down():
    # "yahoo.*" is any public suffix under yahoo, not a company subdomain called yahoo.
    assert is_free_mail("yahoo.acme.com") is False
