import itertools

import pytest

from enrichment.emails.scoring import (
    UNKNOWN_THRESHOLD,
    VERIFIED_THRESHOLD,
    EmailEvidence,
    EmailScore,
    EmailStatus,
    Factor,
    score_email,
    status_for_score,
)


def score(**kwargs) -> EmailScore:
    return score_email(EmailEvidence(**kwargs))


def points(result: EmailScore) -> dict[str, int]:
    return {f.name: f.points for f in result.factors}


def test_its_thresholds_are_stable():
    assert (VERIFIED_THRESHOLD, UNKNOWN_THRESHOLD) == (80, 50)


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (100, "verified"),
        (80, "verified"),
        (79, "unknown"),
        (50, "unknown"),
        (49, "risky"),
        (0, "risky"),
    ],
)
def test_status_for_score_uses_the_thresholds(value, status):
    assert status_for_score(value) == status


def test_statuses_compare_equal_to_their_strings():
    assert EmailStatus.VERIFIED == "verified"
    assert {s.value for s in EmailStatus} == {"verified", "unknown", "risky", "invalid"}


@pytest.mark.parametrize(
    ("evidence", "expected_score", "expected_status"),
    [
        # An unprobed guess right 41 % of the time, MX present, scores 41.
        (dict(syntax_valid=True, prior=0.41, mx="present"), 41, "risky"),
        (dict(syntax_valid=True, prior=0.12, mx="present"), 12, "risky"),
        # A pattern learned from three addresses: close to, never at, verified.
        (
            dict(syntax_valid=True, pattern_probability=0.8, pattern_support=3, mx="present"),
            79,
            "unknown",
        ),
        # SMTP accepted on a server that rejects unknown addresses.
        (
            dict(syntax_valid=True, prior=0.12, mx="present", smtp="accepted", catch_all=False),
            95,
            "verified",
        ),
        # Accept-all server: acceptance proves nothing.
        (
            dict(syntax_valid=True, prior=0.41, mx="present", smtp="accepted", catch_all=True),
            36,
            "risky",
        ),
        (
            dict(syntax_valid=True, prior=0.12, mx="present", smtp="accepted", catch_all=True),
            7,
            "risky",
        ),
        # An address supplied by the user (no pattern), MX present.
        (dict(syntax_valid=True, mx="present"), 60, "unknown"),
        (dict(syntax_valid=True), 50, "unknown"),
        (
            dict(syntax_valid=True, mx="present", provider_status="valid", provider_score=95),
            93,
            "verified",
        ),
        (dict(syntax_valid=True, mx="present", role=True), 50, "unknown"),
        (dict(syntax_valid=True, mx="present", disposable=True), 20, "risky"),
        (dict(syntax_valid=True, mx="present", free_mail=True), 55, "unknown"),
        (dict(syntax_valid=True, mx="implicit"), 45, "risky"),
        (dict(syntax_valid=True, mx="present", smtp="rejected", smtp_code="5.2.2"), 45, "risky"),
        (dict(syntax_valid=True, mx="present", smtp="rejected", smtp_code="5.7.1"), 50, "unknown"),
    ],
)
def test_it_scores_typical_evidence(evidence, expected_score, expected_status):
    result = score(**evidence)
    assert (result.score, result.status) == (expected_score, expected_status)


@pytest.mark.parametrize(
    ("evidence", "reason"),
    [
        (dict(syntax_valid=False), "not a valid email address"),
        (dict(syntax_valid=True, mx="null"), "null MX record"),
        (dict(syntax_valid=True, mx="none"), "does not exist (NXDOMAIN)"),
        (
            dict(syntax_valid=True, mx="present", smtp="rejected", smtp_code="5.1.1"),
            "rejected the mailbox (5.1.1)",
        ),
        (
            dict(syntax_valid=True, mx="present", smtp="rejected", smtp_code="5.2.1"),
            "rejected the mailbox (5.2.1)",
        ),
        (dict(syntax_valid=True, mx="present", smtp="rejected"), "rejected the mailbox"),
        (
            dict(syntax_valid=True, mx="present", provider_status="invalid"),
            "provider says the address is invalid",
        ),
        (
            dict(syntax_valid=True, mx="present", smtp="accepted", catch_all=False, bounced=True),
            "bounced",
        ),
    ],
)
def test_it_marks_definite_failures_invalid(evidence, reason):
    result = score(**evidence)
    assert (result.score, result.status) == (0, "invalid")
    assert reason in result.reason


@pytest.mark.parametrize(
    "evidence",
    [
        dict(syntax_valid=True, prior=0.41, mx="unknown"),
        dict(syntax_valid=True, prior=0.41, mx="present", smtp="unknown"),
        dict(syntax_valid=True, prior=0.41, mx="unknown", smtp="unknown"),
        dict(syntax_valid=True, prior=0.41, mx="present", smtp="rejected", smtp_code="4.2.0"),
        dict(syntax_valid=True, prior=0.41, mx="present", smtp="rejected", smtp_code="4.7.1"),
        dict(syntax_valid=True, prior=0.41, provider_status="unknown"),
    ],
)
def test_a_timeout_or_temporary_failure_is_never_invalid(evidence):
    result = score(**evidence)
    assert result.status != "invalid"
    assert result.score == 41 - (10 if evidence.get("mx") != "present" else 0)


def test_it_caps_an_unconfirmed_address_below_verified():
    result = score(syntax_valid=True, pattern_probability=0.95, pattern_support=12, mx="present")
    assert result.score == 79
    assert points(result)["unconfirmed"] == -16  # 50 + 10 + 35 = 95 before the cap


def test_a_confirmed_address_is_verified_whatever_its_pattern():
    result = score(syntax_valid=True, prior=0.01, mx="present", smtp="accepted", catch_all=False)
    assert points(result) == {"syntax": 50, "mx": 10, "pattern": 0, "smtp": 35, "catch_all": 0}
    assert result.status == "verified"


def test_a_probable_catch_all_weakens_an_smtp_acceptance():
    result = score(syntax_valid=True, mx="present", smtp="accepted", catch_all_probability=0.4)
    assert points(result)["smtp"] == 21
    assert points(result)["catch_all"] == -2
    assert result.score == 79


def test_an_untested_catch_all_assumes_the_default_share():
    result = score(syntax_valid=True, prior=0.41, mx="present", smtp="accepted")
    assert points(result)["smtp"] == 24
    assert points(result)["pattern"] == -6  # (41 - 60) x (1 - 0.7)
    assert result.score == 78


def test_the_provider_adds_only_what_smtp_did_not_already_show():
    result = score(
        syntax_valid=True,
        mx="present",
        smtp="accepted",
        catch_all_probability=0.5,
        provider_status="valid",
        provider_score=80,
    )
    # c = 1 - (1 - 0.5) * (1 - 0.8) = 0.9 → 32 points in all, 18 of them from SMTP.
    assert (points(result)["smtp"], points(result)["provider"]) == (18, 14)


def test_a_provider_accept_all_counts_as_catch_all():
    result = score(
        syntax_valid=True, prior=0.41, mx="present", smtp="accepted", provider_status="accept_all"
    )
    assert points(result)["smtp"] == 0
    assert points(result)["catch_all"] == -5


def test_support_is_shown_but_adds_no_points_beyond_the_probability():
    assert "pattern_support" not in points(score(syntax_valid=True, prior=0.41))
    learned = score(syntax_valid=True, pattern_probability=0.5, pattern_support=2)
    assert points(learned)["pattern_support"] == 0
    assert "2 known addresses at the domain fit the pattern" in str(learned.factors)
    assert learned.score == score(syntax_valid=True, prior=0.5).score


def test_an_unchecked_guess_scores_its_chance_of_being_right():
    for chance in (0.05, 0.33, 0.6, 0.78):
        result = score(syntax_valid=True, pattern_probability=chance, mx="present")
        assert result.score == round(100 * chance)


@pytest.mark.parametrize(
    "evidence",
    [
        dict(syntax_valid=True, prior=0.41, mx="present"),
        dict(syntax_valid=True, pattern_probability=0.99, pattern_support=40, mx="present"),
        dict(
            syntax_valid=True,
            mx="present",
            smtp="accepted",
            catch_all=False,
            provider_status="valid",
        ),
        dict(
            syntax_valid=True, prior=0.02, mx="implicit", disposable=True, role=True, free_mail=True
        ),
        dict(syntax_valid=True, mx="null", smtp="rejected", bounced=True),
        dict(syntax_valid=False),
    ],
)
def test_the_factors_add_up_to_the_score(evidence):
    result = score(**evidence)
    assert sum(f.points for f in result.factors) == result.score
    assert 0 <= result.score <= 100


def test_it_keeps_the_score_at_or_above_zero():
    result = score(
        syntax_valid=True, prior=0.02, mx="implicit", disposable=True, role=True, free_mail=True
    )
    assert result.score == 0
    assert points(result)["bounds"] == 68  # 50 - 5 - 58 - 40 - 10 - 5 = -68
    assert result.status == "risky"


def test_every_combination_of_evidence_stays_within_bounds_and_adds_up():
    grid = itertools.product(
        (None, 0.01, 0.5, 0.99),  # pattern_probability
        (None, "present", "implicit", "unknown", "null"),  # mx
        (None, "accepted", "unknown", "rejected"),  # smtp
        (None, True, False),  # catch_all
        (None, "valid", "accept_all", "invalid"),  # provider_status
        (False, True),  # disposable, role and free_mail together
    )
    for probability, mx, smtp, catch_all, provider, flags in grid:
        result = score(
            syntax_valid=True,
            pattern_probability=probability,
            pattern_support=5 if probability else None,
            mx=mx,
            smtp=smtp,
            catch_all=catch_all,
            provider_status=provider,
            disposable=flags,
            role=flags,
            free_mail=flags,
        )
        assert 0 <= result.score <= 100
        assert sum(f.points for f in result.factors) == result.score
        expected_invalid = mx == "null" or smtp == "rejected" or provider == "invalid"
        assert (result.status == "invalid") is expected_invalid


def test_breakdown_as_text_says_why():
    result = score(syntax_valid=True, prior=0.41, mx="present")
    assert result.breakdown_as_text() == "\n".join(
        [
            "Score 41/100 (risky): 41% chance the guess is right (global prior); MX records present",
            "   +50  syntax   valid address",
            "   +10  mx       MX records present",
            "   -19  pattern  41% chance the guess is right (global prior)",
            "    +0  smtp     SMTP not probed",
            "    41  total",
        ]
    )


def test_it_serializes_the_score():
    result = score(syntax_valid=False)
    assert result.to_dict() == {
        "score": 0,
        "status": "invalid",
        "reason": "not a valid email address",
        "factors": [{"name": "syntax", "points": 0, "detail": "not a valid email address"}],
    }
    assert result.factors == [Factor("syntax", 0, "not a valid email address")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mx", "timeout"),
        ("smtp", "catchall"),
        ("provider_status", "ok"),
        ("pattern_probability", 1.5),
        ("prior", -0.1),
        ("catch_all_probability", 2.0),
        ("provider_score", 101),
        ("pattern_support", -1),
    ],
)
def test_it_refuses_evidence_it_cannot_read(field, value):
    with pytest.raises(ValueError, match=field):
        EmailEvidence(**{field: value})
