"""The job pages in headless Chromium, against the real thing: daphne serving the ASGI app
(HTTP and the job's web socket), a Celery worker processing the job, PostgreSQL and Redis.

alice logs in, uploads 30 leads, corrects one column of the mapping, starts the job, watches
the progress bar reach 100 % and downloads the export.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from enrichment.models import EnrichmentJob, JobStatus
from providers.models import Provider, ProviderKind

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Ken",
]
LAST = ["Lovelace", "Hopper", "Turing"]
LEADS = "First Name,Last Name,Org,Note\n" + "".join(
    f"{first},{last},{last.lower()}-labs.example,row {n}\n"
    for n, (first, last) in enumerate(((f, la) for la in LAST for f in FIRST), start=1)
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nothing answered on port {port}")


def _start(command: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own server and worker commands
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped with its children
    )


def _stop(process: subprocess.Popen) -> None:
    """Stop the process and its children, and wait until none is left holding a database
    connection (the test database is dropped next)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def stack(django_user_model):
    """daphne and a Celery worker on the test database; yields the site's base URL."""
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL and Redis (make test provides them)")
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}{password}@"
        f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": f"browser-{os.getpid()}",
    }
    web = _start(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        env,
    )
    worker = _start(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
            "--concurrency", "2", "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "--without-gossip",
            "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING",
        ],
        env,
    )  # fmt: skip
    try:
        _wait_for_port(port, web)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(worker)
        _stop(web)


def test_upload_correct_the_mapping_start_watch_and_download(stack, django_user_model, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    django_user_model.objects.create_superuser("alice", "alice@example.org", "alice-pw")
    sandbox = Provider(
        slug="sandbox",
        name="Sandbox (synthetic data)",
        kind=ProviderKind.BUILTIN,
        adapter="sandbox",
        price_per_call=Decimal("0.0100"),
    )
    sandbox.save()
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        page = browser.new_context(accept_downloads=True).new_page()
        page.set_default_timeout(20_000)
        frames: list[str] = []
        page.on(
            "websocket",
            lambda ws: ws.on("framereceived", lambda payload: frames.append(f"{ws.url} {payload}")),
        )

        page.goto(f"{stack}/admin/login/?next=/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "alice-pw")
        page.click("input[type=submit]")
        page.click("#new-job")

        page.set_input_files("#id_file", str(leads))
        page.fill("#id_name", "Browser leads")
        page.check("input[name=fields][value=title]")
        page.check("input[name=providers][value=sandbox]")
        page.check("#id_offline")
        # The sandbox's made-up titles come with confidences of 50-70.
        page.fill("#id_min_confidence", "50")
        page.click("#upload-form button[type=submit]")

        # "Org" holds domains but reads as a company name: the user corrects it.
        org = page.get_by_label("Org", exact=True)
        expect(org).to_have_value("company_name")
        org.select_option("domain")
        page.click("#mapping-form button[type=submit]")

        page.wait_for_url(f"{stack}/jobs/*/")
        seen: set[str] = set()
        deadline = time.monotonic() + 90
        while page.inner_text("#job-percent") != "100%":
            seen.add(page.inner_text("#job-percent"))
            assert time.monotonic() < deadline, f"progress stuck; seen {sorted(seen)}"
            page.wait_for_timeout(100)
        expect(page.locator("#job-state")).to_have_text("Completed")
        expect(page.locator("#job-processed")).to_have_text("30")
        assert page.eval_on_selector("#job-progress", "bar => bar.value === bar.max")
        expect(page.locator("#job-log")).to_contain_text("30 succeeded")
        job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
        # The page listens on the job's channel: its snapshot, then progress as rows finish.
        assert any(f"/ws/jobs/{job_id}/ " in frame and '"processed"' in frame for frame in frames)

        with page.expect_download() as download:
            page.click("#export-all")
        exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert len(exported) == 30
        assert exported[0]["First Name"] == "Ada" and exported[0]["Note"] == "row 1"
        assert exported[0]["domain"] == "lovelace-labs.example"
        assert all(row["email"].endswith("@" + row["Org"]) for row in exported)
        assert all(row["email_status"] and row["email_source"] for row in exported)
        assert all(row["title"] for row in exported)  # found by the sandbox, at 50 or more

        # The chooser: two columns, the second first.
        page.click("summary")
        for box in page.locator("#export-form input[name=col]").all():
            box.uncheck()
        page.check("#export-form input[name=col][value=Note]")
        page.check("#export-form input[name=col][value=email]")
        page.fill('#export-form input[name="at:email"]', "1")
        page.fill('#export-form input[name="at:Note"]', "2")
        with page.expect_download() as download:
            page.click("#export-form button[type=submit]")
        chosen = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
        assert chosen[0] == ["email", "Note"]
        assert chosen[1][1] == "row 1" and chosen[1][0].endswith("@lovelace-labs.example")
        browser.close()

    # The database is read once the browser is gone: Playwright's sync API runs its own
    # event loop, which Django's ORM refuses to share.
    job = EnrichmentJob.objects.get()
    assert job.options["mapping"]["domain"] == "Org"  # the correction made on the page
    assert job.options["via"] == "browser"
    assert job.status == JobStatus.COMPLETED and job.processed_items == job.total_items == 30
