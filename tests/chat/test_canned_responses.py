"""Canned responses (docs/desk.md "Canned responses"): input rules, scopes, races, reads."""
from __future__ import annotations

import pytest

from chat.errors import Conflict, InvalidData, NotFound
from chat.models import CannedResponse, Role
from chat.selectors.catalog import canned_response_get_for_operator, canned_response_list_for_operator
from chat.services.canned_responses import (
    canned_response_create,
    canned_response_delete,
    canned_response_update,
)
from tests.concurrency import run_concurrently
from tests.factories import InboxFactory, InboxMemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_input_rules():
    response = canned_response_create(short_code=" /Refund-Policy_2.0 ", content="We refund within 30 days.")
    assert response.short_code == "refund-policy_2.0" and response.inbox_id is None
    assert canned_response_create(short_code="x" * 100, content="c" * 10_000).pk
    for bad in ["", " ", "x" * 101, "two words", "<b>", "a/b", "ta\tb", 5, None]:
        with pytest.raises(InvalidData):
            canned_response_create(short_code=bad, content="ok")
    for bad in ["", "   \n", "c" * 10_001, "nul\x00", "bell\x07", None, 3]:
        with pytest.raises(InvalidData):
            canned_response_create(short_code="fine", content=bad)
    with pytest.raises(InvalidData):
        canned_response_create(short_code="fine", content="ok", inbox_id=10**9)
    with pytest.raises(InvalidData):
        canned_response_create(short_code="fine", content="ok", inbox_id=True)
    assert not CannedResponse.objects.filter(short_code="fine").exists()
    # Markup is stored as typed (the panel renders text, never HTML).
    assert canned_response_create(short_code="xss", content="<img src=x onerror=alert(1)>").content.startswith("<img")


def test_short_codes_are_unique_per_scope():
    inbox, other = InboxFactory(), InboxFactory()
    canned_response_create(short_code="hi", content="global")
    canned_response_create(short_code="hi", content="inbox", inbox_id=inbox.pk)  # another scope
    canned_response_create(short_code="hi", content="other", inbox_id=other.pk)
    with pytest.raises(Conflict) as caught:
        canned_response_create(short_code="HI", content="again")
    assert caught.value.fields == {"short_code": ["Already used in the global responses."]}
    with pytest.raises(Conflict):
        canned_response_create(short_code="hi", content="again", inbox_id=inbox.pk)
    moving = canned_response_create(short_code="bye", content="x", inbox_id=inbox.pk)
    with pytest.raises(Conflict):
        canned_response_update(response_id=moving.pk, short_code="hi")
    with pytest.raises(Conflict):
        canned_response_update(response_id=moving.pk, short_code="hi", inbox_id=None)
    assert CannedResponse.objects.get(pk=moving.pk).short_code == "bye"
    updated = canned_response_update(response_id=moving.pk, content="see you", inbox_id=None)
    assert (updated.inbox_id, updated.content) == (None, "see you")
    canned_response_delete(response_id=moving.pk)
    with pytest.raises(NotFound):
        canned_response_delete(response_id=moving.pk)
    with pytest.raises(NotFound):
        canned_response_update(response_id=moving.pk, content="x")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_creators_of_the_same_code_at_once_get_one_response_and_one_conflict():
    inbox = InboxFactory()
    for round_, scope in enumerate([None, inbox.pk, None, inbox.pk]):
        code = f"race{round_}"
        results = run_concurrently(
            lambda i, code=code, scope=scope: canned_response_create(short_code=code, content=f"from {i}",
                                                                     inbox_id=scope), 2)
        assert sorted(type(r).__name__ for r in results) == ["CannedResponse", "Conflict"], results
        assert CannedResponse.objects.filter(short_code=code, inbox_id=scope).count() == 1


def test_operators_read_the_global_ones_and_their_inboxes_only():
    inbox_a, inbox_b = InboxFactory(), InboxFactory()
    agent_a = InboxMemberFactory(inbox=inbox_a).user
    admin = UserFactory(profile=Role.ADMINISTRATOR)
    global_hi = canned_response_create(short_code="hi", content="Hello from us")
    a_hi = canned_response_create(short_code="hi", content="Hello from A", inbox_id=inbox_a.pk)
    a_refund = canned_response_create(short_code="refund", content="Refund in A", inbox_id=inbox_a.pk)
    b_secret = canned_response_create(short_code="secret", content="B only", inbox_id=inbox_b.pk)

    def codes(user, **kwargs):
        return [(r.short_code, r.inbox_id) for r in canned_response_list_for_operator(user=user, **kwargs).rows]

    assert codes(agent_a) == [("hi", None), ("hi", inbox_a.pk), ("refund", inbox_a.pk)]
    assert len(codes(admin)) == 4
    # What the composer offers in inbox A: the inbox's "hi" wins over the global one.
    assert codes(agent_a, inbox_id=inbox_a.pk) == [("hi", inbox_a.pk), ("refund", inbox_a.pk)]
    assert codes(admin, inbox_id=inbox_b.pk) == [("hi", None), ("secret", inbox_b.pk)]
    with pytest.raises(NotFound):
        codes(agent_a, inbox_id=inbox_b.pk)
    # q: short code or content, case-insensitive; LIKE wildcards are literal.
    assert codes(agent_a, q="REF") == [("refund", inbox_a.pk)]
    assert codes(agent_a, q="from us") == [("hi", None)]
    assert codes(agent_a, q="%") == []
    assert canned_response_get_for_operator(user=agent_a, response_id=global_hi.pk) == global_hi
    assert canned_response_get_for_operator(user=agent_a, response_id=a_hi.pk) == a_hi
    with pytest.raises(NotFound):
        canned_response_get_for_operator(user=agent_a, response_id=b_secret.pk)
    assert a_refund.pk


def test_a_long_list_comes_in_bounded_pages():
    for i in range(130):
        canned_response_create(short_code=f"code{i:03d}", content="x")
    admin = UserFactory(profile=Role.ADMINISTRATOR)
    seen, after = [], None
    while True:
        page = canned_response_list_for_operator(user=admin, after=after, limit=50)
        assert len(page.rows) <= 50
        seen += [r.short_code for r in page.rows]
        if page.next_key is None:
            break
        after = page.next_key
    assert seen == [f"code{i:03d}" for i in range(130)]
    with pytest.raises(InvalidData):
        canned_response_list_for_operator(user=admin, after="not-a-cursor")
