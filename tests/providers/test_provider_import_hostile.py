"""`providers import` on hostile files: one line per problem, never a traceback, nothing stored."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from providers.models import Provider

pytestmark = pytest.mark.django_db


def _entry(**changes):
    return {"slug": "hunter", "adapter": "hunter", **changes}


def _file(tmp_path, content) -> str:
    path = tmp_path / "providers.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps({"version": 1, "providers": content}))
    return str(path)


HOSTILE = [
    pytest.param(b'{"providers": [{"slug": "h\xff\xfe"}]}', "not UTF-8", id="not-utf8"),
    pytest.param(b"[" * 100_000, "nested too deeply", id="deep-json"),
    pytest.param([_entry(name="n" * 10_000)], "name: Ensure this value has at most", id="long"),
    pytest.param([_entry(name="a\x00b")], "NUL character", id="nul"),
    pytest.param([_entry(price_per_call="NaN")], "'price_per_call' is not a number", id="nan"),
    pytest.param([_entry(timeout_seconds="1e999999")], "timeout_seconds", id="huge-decimal"),
    pytest.param([_entry(concurrency=0)], "concurrency: Ensure this value is greater", id="zero"),
    pytest.param([_entry(base_url="javascript:alert(1)")], "base_url: Enter a valid URL", id="js"),
    pytest.param([_entry(priority=10**20)], "priority: Ensure this value is less", id="huge-int"),
    pytest.param(
        [_entry(kind="nonsense")], "kind: Value 'nonsense' is not a valid choice", id="kind"
    ),
    pytest.param([_entry(slug="not a slug!")], "slug: Enter a valid", id="slug"),
    pytest.param([_entry(), _entry()], "listed twice", id="twice"),
]


@pytest.mark.parametrize(("content", "message"), HOSTILE)
def test_a_hostile_file_gets_a_clear_answer_and_changes_nothing(tmp_path, content, message):
    with pytest.raises(CommandError) as raised:
        call_command("providers", "import", _file(tmp_path, content), stdout=StringIO())
    assert message in str(raised.value)
    assert "Traceback" not in str(raised.value)
    assert not Provider.objects.exists()


def test_it_reports_every_problem_one_line_each(tmp_path):
    entries = [
        _entry(concurrency=0, base_url="javascript:alert(1)", price_per_call="NaN"),
        {"slug": "other", "adapter": "no-such-adapter"},
        _entry(slug="fine"),
    ]
    with pytest.raises(CommandError) as raised:
        call_command("providers", "import", _file(tmp_path, entries), stdout=StringIO())
    lines = str(raised.value).splitlines()
    assert lines[0].endswith("nothing was imported:")
    assert len(lines) == 5, lines
    assert "provider 'hunter': 'price_per_call' is not a number" in lines
    assert any(line.startswith("provider 'hunter': concurrency:") for line in lines)
    assert any(line.startswith("provider 'hunter': base_url:") for line in lines)
    assert any("unknown adapter 'no-such-adapter'" in line for line in lines)
    assert not Provider.objects.exists()
