"""Default branch cache and contact validation."""
from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chat.errors import InvalidData
from chat.models import Branch
from chat.services.branches import DEFAULT_BRANCH_CACHE_KEY, branch_create, branch_update, get_default_branch
from chat.services.contacts import contact_create, contact_update, normalize_email, normalize_phone

pytestmark = pytest.mark.django_db


def test_default_branch_is_created_once_and_cached(django_assert_num_queries):
    branch = get_default_branch()
    assert branch.is_default
    with django_assert_num_queries(1):  # the cached id, then one primary-key read
        assert get_default_branch().pk == branch.pk


def test_default_branch_cache_is_invalidated_on_change(django_capture_on_commit_callbacks):
    from django.core.cache import cache

    first = get_default_branch()
    with django_capture_on_commit_callbacks(execute=True):
        second = branch_create(name="North", is_default=True)
    assert cache.get(DEFAULT_BRANCH_CACHE_KEY) is None
    assert get_default_branch().pk == second.pk
    with django_capture_on_commit_callbacks(execute=True):
        branch_update(branch=Branch.objects.get(pk=first.pk), is_default=True)
    assert get_default_branch().pk == first.pk
    assert Branch.objects.filter(is_default=True).count() == 1


def test_contact_email_is_validated_and_normalized():
    contact = contact_create(name="Ann", email="Ann@Example.COM")
    assert contact.email == "Ann@example.com"
    with pytest.raises(InvalidData) as refused:
        contact_update(contact=contact, email="not-an-email")
    assert "email" in refused.value.fields


def test_contact_phone_is_normalized_to_e164():
    contact = contact_create(name="Bo", phone="+44 20 7946 0958")
    assert contact.phone == "+442079460958"
    assert normalize_phone("06 12 34 56 78", region="FR") == "+33612345678"
    with pytest.raises(InvalidData):
        normalize_phone("12345")
    with pytest.raises(InvalidData):
        contact_create(phone="+1 555")


@hsettings(max_examples=200, deadline=None)
@given(st.text(alphabet="+0123456789 ()-.", max_size=20))
def test_phone_normalization_is_total_and_idempotent(raw):
    try:
        normalized = normalize_phone(raw)
    except InvalidData:
        return
    if normalized is None:
        assert raw == ""
        return
    assert normalized.startswith("+")
    assert phonenumbers.is_valid_number(phonenumbers.parse(normalized))
    assert normalize_phone(normalized) == normalized


@hsettings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_email_validation_never_crashes(raw):
    try:
        result = normalize_email(raw)
    except InvalidData:
        return
    assert result is None or "@" in result
