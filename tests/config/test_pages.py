import pytest

from tests.factories import ContactEmailFactory, EnrichmentJobFactory


@pytest.mark.django_db
def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_home_lists_jobs_and_contacts_awaiting_review(alice_client, django_assert_max_num_queries):
    EnrichmentJobFactory(name="October leads")
    ContactEmailFactory(email="ada.lovelace@analytical-engines.example")
    ContactEmailFactory()
    with django_assert_max_num_queries(8):
        response = alice_client.get("/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "October leads" in body
    assert "ada.lovelace@analytical-engines.example" in body


@pytest.mark.django_db
def test_the_htmx_poll_gets_only_the_jobs_fragment(alice_client):
    EnrichmentJobFactory(name="Polled job")
    response = alice_client.get("/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="jobs")
    body = response.content.decode()
    assert "Polled job" in body
    assert "<html" not in body


@pytest.mark.django_db
def test_schema_and_docs_answer(alice_client):
    assert alice_client.get("/api/schema/").status_code == 200
    docs = alice_client.get("/api/docs/")
    assert docs.status_code == 200
    assert "cdn" not in docs.content.decode().lower()


@pytest.mark.django_db
def test_every_admin_changelist_renders(alice_client):
    from django.contrib import admin

    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert alice_client.get(url).status_code == 200, url
