"""Shared fixtures: personas and factories used across the suite.

alice is the admin who approves contacts, bob a teammate with staff access, charlie an
outsider with an account but no staff rights.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_superuser("alice", "alice@example.org", "alice-pw")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.org", "bob-pw", is_staff=True)


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_user("charlie", "charlie@example.org", "charlie-pw")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client
