"""Ring mode over the operator socket: the personal offer reaches only its operator (live and on
resume), accept / decline answer as the contract says, withdrawals reach every tab."""
from __future__ import annotations

import pytest

from chat.models import ConversationOffer, OfferState
from chat.services.conversations import conversation_set_status
from chat.services.inboxes import inbox_member_remove
from tests.factories import ContactInboxFactory, InboxFactory, InboxMemberFactory, make_conversation
from tests.realtime.conftest import (
    command,
    command_expecting,
    db,
    is_type,
    joined_operator,
    receive_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

@pytest.fixture
def ring(transactional_db):
    inbox = InboxFactory(assignment_mode="ring", ring_timeout_seconds=30, enable_auto_assignment=True,
                         assignment_rate_limit=1000)
    ann = InboxMemberFactory(inbox=inbox).user
    bob = InboxMemberFactory(inbox=inbox).user
    return type("Ring", (), {"inbox": inbox, "ann": ann, "bob": bob})

def new_conversation(inbox):
    return make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))

def pending_user(conversation_id: int) -> int | None:
    offer = ConversationOffer.objects.filter(conversation_id=conversation_id, state=OfferState.PENDING).first()
    return offer.user_id if offer else None

async def test_offer_accept_decline_over_the_socket(ring):
    ann1 = await joined_operator(ring.ann)  # two tabs of Ann
    ann2 = await joined_operator(ring.ann)
    bob = await joined_operator(ring.bob)
    conversation = await db(new_conversation)(ring.inbox)
    offered_to = await db(pending_user)(conversation.pk)
    assert offered_to in (ring.ann.pk, ring.bob.pk)
    mine, other = (ann1, bob) if offered_to == ring.ann.pk else (bob, ann1)
    frame, _ = await receive_until(mine, is_type("conversation.offered"))
    assert frame["conversation_id"] == conversation.pk and frame["id"]
    assert frame["data"]["conversation_id"] == conversation.pk and frame["data"]["expires_at"]
    # The other operator does not get it (a ping round trip after the offer proves nothing came).
    reply, frames = await command_expecting(other, "ping", {}, ref="p")
    assert not [f for f in frames if f.get("type", "").startswith("conversation.offer")]
    # Not theirs: not_found; malformed: invalid_data.
    refused = await command(other, "conversation.accept", {"conversation_id": conversation.pk})
    assert refused["error"]["code"] == "not_found"
    assert (await command(other, "conversation.accept", {}))["error"]["code"] == "invalid_data"
    assert (await command(other, "conversation.decline", {"conversation_id": "x"}))["error"]["code"] == "invalid_data"
    # Declined: the next operator is offered it, the decliner gets the withdrawal.
    declined, frames = await command_expecting(mine, "conversation.decline", {"conversation_id": conversation.pk},
                                               is_type("conversation.offer_withdrawn"))
    assert declined["ok"] and declined["data"] == {"conversation_id": conversation.pk, "state": "declined"}
    withdrawn = next(f for f in frames if f["type"] == "conversation.offer_withdrawn")
    assert withdrawn["data"] == {"conversation_id": conversation.pk, "reason": "declined"}
    frame, _ = await receive_until(other, is_type("conversation.offered"))
    assert frame["conversation_id"] == conversation.pk
    # Late accept by the decliner: conflict. Accept by the new one: ok, assignee.changed to all.
    late = await command(mine, "conversation.accept", {"conversation_id": conversation.pk})
    assert late["error"]["code"] == "conflict"
    accepted, _ = await command_expecting(other, "conversation.accept", {"conversation_id": conversation.pk},
                                          is_type("assignee.changed"))
    assert accepted["ok"] and accepted["data"]["assignee"]["id"] != offered_to
    again = await command(other, "conversation.accept", {"conversation_id": conversation.pk}, ref="again")
    assert again["ok"] and again["data"]["assignee"] == accepted["data"]["assignee"]
    for comm in (ann1, ann2, bob):
        await comm.disconnect()

async def test_every_tab_sees_the_offer_and_its_withdrawal_and_resume_replays_them(ring):
    await db(lambda: ring.inbox.members.filter(user=ring.bob).delete())()
    tab1 = await joined_operator(ring.ann)
    tab2 = await joined_operator(ring.ann)
    conversation = await db(new_conversation)(ring.inbox)
    first, _ = await receive_until(tab1, is_type("conversation.offered"))
    second, _ = await receive_until(tab2, is_type("conversation.offered"))
    assert first == second
    await db(conversation_set_status)(conversation_id=conversation.pk, status="resolved", actor_user=None)
    for tab in (tab1, tab2):
        frame, _ = await receive_until(tab, is_type("conversation.offer_withdrawn"))
        assert frame["data"]["reason"] == "closed"
    # A reconnecting tab resumes from before the offer: both come back, in order.
    tab3 = await joined_operator(ring.ann)
    resumed, frames = await command_expecting(tab3, "resume", {"last_event_id": first["id"] - 1},
                                              is_type("conversation.offer_withdrawn"), ref="resume")
    assert resumed["ok"]
    kinds = [f["type"] for f in frames if f.get("type", "").startswith("conversation.offer")]
    assert kinds == ["conversation.offered", "conversation.offer_withdrawn"]
    for comm in (tab1, tab2, tab3):
        await comm.disconnect()

async def test_an_operator_removed_mid_ring_is_told_and_the_next_one_is_asked(ring):
    """Removed from the inbox while the offer rings: their socket is re-scoped, yet the
    withdrawal (a personal event) still reaches it, live and on resume; nothing else of that
    inbox does. The other member is offered the conversation."""
    ann, bob = await joined_operator(ring.ann), await joined_operator(ring.bob)
    conversation = await db(new_conversation)(ring.inbox)
    offered_to = await db(pending_user)(conversation.pk)
    removed, stays, stays_id = (ann, bob, ring.bob.pk) if offered_to == ring.ann.pk else (bob, ann, ring.ann.pk)
    offered, _ = await receive_until(removed, is_type("conversation.offered"))
    await db(inbox_member_remove)(inbox=ring.inbox, user_id=offered_to)
    withdrawn, _ = await receive_until(removed, is_type("conversation.offer_withdrawn"))
    assert withdrawn["conversation_id"] == conversation.pk
    assert withdrawn["data"] == {"conversation_id": conversation.pk, "reason": "removed"}
    frame, _ = await receive_until(stays, is_type("conversation.offered"))
    assert frame["conversation_id"] == conversation.pk and await db(pending_user)(conversation.pk) == stays_id
    refused = await command(removed, "conversation.accept", {"conversation_id": conversation.pk}, ref="late")
    assert refused["error"]["code"] == "not_found"
    # Another tab of theirs, resuming from before the offer: the offer and its end, nothing else.
    tab = await joined_operator(await db(lambda: type(ring.ann).objects.get(pk=offered_to))())
    resumed, frames = await command_expecting(tab, "resume", {"last_event_id": offered["id"] - 1},
                                              is_type("conversation.offer_withdrawn"), ref="resume")
    assert resumed["ok"]
    assert [f["type"] for f in frames if f.get("conversation_id") == conversation.pk] == [
        "conversation.offered", "conversation.offer_withdrawn"]
    for comm in (ann, bob, tab):
        await comm.disconnect()
