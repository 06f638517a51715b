from __future__ import annotations

import pytest
from django.db import connection

from tests.factories import ContactInboxFactory, InboxFactory, UserFactory


@pytest.fixture
def inbox(db):
    return InboxFactory()


@pytest.fixture
def contact_inbox(inbox):
    return ContactInboxFactory(inbox=inbox)


@pytest.fixture
def operator(db):
    return UserFactory()


def is_postgres() -> bool:
    return connection.vendor == "postgresql"
