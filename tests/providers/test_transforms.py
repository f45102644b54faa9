from __future__ import annotations

import copy

import pytest

from providers.transforms import (
    TRANSFORMS,
    apply_transform,
    apply_transforms,
    employee_band,
    phone_e164,
    pick_phone,
    placeholders,
    validate_generic_config,
)


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0, "1-10"),
        (1, "1-10"),
        (10, "1-10"),
        (11, "11-50"),
        (50, "11-50"),
        (51, "51-200"),
        (200, "51-200"),
        (201, "201-500"),
        (500, "201-500"),
        (501, "501-1000"),
        (1000, "501-1000"),
        (1001, "1001-5000"),
        (5000, "1001-5000"),
        (5001, "5001-10000"),
        (10000, "5001-10000"),
        (10001, "10001+"),
        (250000, "10001+"),
        (37.9, "11-50"),
        ("1,200", "1001-5000"),
        ("2k", "1001-5000"),
        ("51-200", "51-200"),
        ("10001+", "10001+"),
        ("201-1000", "501-1000"),  # a foreign band goes by its midpoint
        ("1000+", "501-1000"),
        ("11 to 50", "11-50"),
        (-5, None),
        ("many", None),
        (None, None),
        (True, None),
    ],
)
def test_employee_band(value, band):
    assert employee_band(value) == band


@pytest.mark.parametrize(
    ("phones", "expected"),
    [
        (
            [
                {"type": "work_hq", "sanitized_number": "+1111"},
                {"type": "mobile", "sanitized_number": "+2222"},
            ],
            "+2222",
        ),
        ([{"type": "home", "number": "+3333"}, {"type": "Office", "number": "+4444"}], "+4444"),
        ([{"label": "Cell phone", "value": "+5555"}], "+5555"),
        ([{"type": "other", "phone": "+6666"}, {"type": "fax", "phone": "+7777"}], "+6666"),
        (["+8888", "+9999"], "+8888"),
        ("+1000", "+1000"),
        ({"type": "mobile", "phone_number": 15550100}, "15550100"),
        ([{"type": "mobile"}, {"type": "work", "number": ""}], None),
        ([], None),
        (None, None),
    ],
)
def test_pick_phone_prefers_mobile_then_office_then_first(phones, expected):
    assert pick_phone(phones) == expected


def test_simple_transforms():
    assert apply_transform("lower", "Jane@ACME.com") == "jane@acme.com"
    assert apply_transform("upper", "us") == "US"
    assert apply_transform("strip", "  Head   of Sales ") == "Head of Sales"
    assert apply_transform("strip", "   ") is None
    assert apply_transform("domain", "https://www.acme.com/x") == "acme.com"
    assert apply_transform("first", ["a", "b"]) == "a"
    assert apply_transform("first", []) is None
    assert apply_transform("join", ["React", None, "Django"]) == "React, Django"
    assert apply_transform("int", "1,234") == 1234
    assert apply_transform("int", True) is None
    assert apply_transform(["first", "lower"], ["ABC", "DEF"]) == "abc"
    assert apply_transform("lower", None) is None


def test_the_star_transform_runs_first_on_every_field():
    values = {"email": "  Jane@ACME.com ", "title": " CEO ", "company_size": 320}
    out = apply_transforms(
        values, {"*": "strip", "email": "lower", "company_size": "employee_band"}
    )
    assert out == {"email": "jane@acme.com", "title": "CEO", "company_size": "201-500"}


def test_placeholders_are_found_everywhere():
    assert placeholders({"a": "{first_name} {{literal}}", "b": ["{domain}"], "c": 3}) == {
        "first_name",
        "domain",
    }


VALID = {
    "operations": {
        "find_email": {
            "method": "POST",
            "path": "/v1/find",
            "query": {"api_key": "{api_key}"},
            "headers": {"Accept": "application/json"},
            "body": {
                "name": {"first": "{first_name}", "last": "{last_name}"},
                "domain": "{domain}",
            },
            "mapping": {
                "email": "$.data.email",
                "phone": "$.data.phones",
                "company_size": "$.company.employees",
            },
            "confidence_path": "$.data.score",
            "confidence_scale": 10,
            "found_path": "$.data.found",
            "transforms": {"company_size": "employee_band", "phone": "pick_phone", "*": "strip"},
            "cost": "0.01",
        }
    },
    "auth": {"type": "api_key_header", "header": "X-API-Key"},
}


def test_a_valid_config_has_no_errors():
    assert validate_generic_config(VALID) == []
    assert (
        validate_generic_config(
            {
                "operations": {
                    "verify_email": {"path": "/v/{email}", "mapping": {"email_status": "$.status"}}
                }
            }
        )
        == []
    )


def _broken(change) -> list[str]:
    config = copy.deepcopy(VALID)
    change(config)
    return validate_generic_config(config)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: c.pop("operations"), "operations: configure at least one operation"),
        (
            lambda c: c["operations"].update(find_everything={}),
            "find_everything: unknown operation",
        ),
        (lambda c: c["operations"]["find_email"].update(method="DELETE"), "method: must be one of"),
        (
            lambda c: c["operations"]["find_email"].update(path="v1/find"),
            "path: must be a path starting with '/'",
        ),
        (
            lambda c: c["operations"]["find_email"].update(path="/v1/{api_key}"),
            "path: unknown placeholder(s) api_key",
        ),
        (
            lambda c: c["operations"]["find_email"]["body"].update(x="{favourite_colour}"),
            "unknown placeholder {favourite_colour}",
        ),
        (
            lambda c: c["operations"]["find_email"]["body"].update(x="{ oops"),
            "has a '{' that is not",
        ),
        (
            lambda c: c["operations"]["find_email"]["mapping"].update(email="$.data[("),
            "mapping.email: invalid JSONPath",
        ),
        (
            lambda c: c["operations"]["find_email"]["mapping"].update(shoe_size="$.x"),
            "'shoe_size' is not a canonical field",
        ),
        (lambda c: c["operations"]["find_email"].update(mapping={}), "map at least one field"),
        (
            lambda c: c["operations"]["find_email"].update(confidence_path="$$["),
            "confidence_path: invalid JSONPath",
        ),
        (
            lambda c: c["operations"]["find_email"].update(confidence_scale=0),
            "confidence_scale: must be a positive number",
        ),
        (
            lambda c: c["operations"]["find_email"].update(default_confidence=150),
            "default_confidence: must be an integer 0-100",
        ),
        (
            lambda c: c["operations"]["find_email"]["transforms"].update(email="shout"),
            "unknown transform 'shout'",
        ),
        (
            lambda c: c["operations"]["find_email"]["transforms"].update(title="strip"),
            "'title' is not a mapped field",
        ),
        (
            lambda c: c["operations"]["find_email"].update(cost="-1"),
            "cost: must be a non-negative decimal",
        ),
        (
            lambda c: c["operations"]["find_email"].update(cost="free"),
            "cost: must be a non-negative decimal",
        ),
        (
            lambda c: c["operations"]["find_email"].update(required=["shoe_size"]),
            "'shoe_size' is not a canonical field",
        ),
        (lambda c: c["operations"]["find_email"].update(body_format="xml"), "body_format"),
        (lambda c: c.update(auth={"type": "kerberos"}), "auth.type: 'kerberos' is not one of"),
        (lambda c: c.update(auth={"type": "oauth2_client_credentials"}), "auth.token_url"),
        (
            lambda c: c.update(
                auth={"type": "oauth2_client_credentials", "token_url": "ftp://x/token"}
            ),
            "auth.token_url",
        ),
        (lambda c: c.update(auth={"type": "none"}), "unknown placeholder {api_key}"),
    ],
)
def test_config_errors_are_reported_readably(change, fragment):
    errors = _broken(change)
    assert any(fragment in e for e in errors), errors


def test_every_problem_is_reported_at_once():
    config = {
        "operations": {
            "find_email": {
                "path": "nope",
                "mapping": {"email": "$["},
                "cost": "x",
                "method": "GET",
            },
        },
        "auth": {"type": "???"},
    }
    assert len(validate_generic_config(config)) == 4
    assert validate_generic_config("not a dict") == ["config: must be a JSON object"]


def test_the_transform_names_in_errors_match_the_registry():
    assert set(TRANSFORMS) == {
        "strip",
        "lower",
        "upper",
        "domain",
        "first",
        "join",
        "int",
        "employee_band",
        "pick_phone",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+1 200-555-0100", ("+12005550100", 20)),  # possible, but 200 is no area code
        ("+44 20 7946 0958", ("+442079460958", 0)),
        ("12077523358", ("+12077523358", 0)),  # bare digits with the country code
        ("(207) 752-3358", ("(207) 752-3358", 30)),  # no country code: kept, trusted less
        ("12-34", (None, 0)),
    ],
)
def test_phone_numbers_become_e164_without_guessing_a_country(text, expected):
    assert phone_e164(text) == expected
