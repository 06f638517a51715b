"""The Django admin is an adapter: saves and deletes with rules go through the services (events,
activity lines, releases, control messages), or the fields are read-only."""
from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from chat.events import contact_inbox_group, user_group
from chat.models import Contact, Conversation, ConversationStatus, Inbox, InboxMember, Message, OperatorProfile, Role
from tests.controls import controls_sent
from tests.factories import ContactInboxFactory, InboxFactory, InboxMemberFactory, UserFactory, make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_site():
    client = Client()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    return client


def test_conversation_rule_fields_cannot_be_edited_in_the_admin(admin_site):
    inbox = InboxFactory()
    ann = InboxMemberFactory(inbox=inbox).user
    conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    url = f"/admin/chat/conversation/{conversation.pk}/change/"
    assert admin_site.get(url).status_code == 200  # shown
    response = admin_site.post(url, {"assignee": ann.pk, "status": "resolved", "priority": "urgent"})
    assert response.status_code == 403
    assert admin_site.post(f"/admin/chat/conversation/{conversation.pk}/delete/", {"post": "yes"}).status_code == 403
    fresh = Conversation.objects.get(pk=conversation.pk)
    assert (fresh.assignee_id, fresh.status) == (None, ConversationStatus.OPEN)


def test_removing_a_member_in_the_admin_releases_with_events_and_rescopes(admin_site, published):
    inbox = InboxFactory(enable_auto_assignment=False)
    member = InboxMemberFactory(inbox=inbox)
    conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    Conversation.objects.filter(pk=conversation.pk).update(assignee=member.user, status=ConversationStatus.SNOOZED)
    response, sent = controls_sent(
        [user_group(member.user_id)],
        lambda: admin_site.post(f"/admin/chat/inboxmember/{member.pk}/delete/", {"post": "yes"}),
    )
    assert response.status_code == 302
    assert not InboxMember.objects.filter(pk=member.pk).exists()
    assert sent == [(user_group(member.user_id), {"type": "membership.changed"})]
    assert Conversation.objects.get(pk=conversation.pk).assignee_id is None
    assert [e.payload for e in published.of_type("assignee.changed")] == [{"assignee": None}]
    assert Message.objects.filter(conversation=conversation, content__contains="was removed from the inbox").exists()


def test_adding_a_member_in_the_admin_rescopes_their_sockets(admin_site):
    inbox, user = InboxFactory(), UserFactory()
    response, sent = controls_sent(
        [user_group(user.pk)], lambda: admin_site.post("/admin/chat/inboxmember/add/", {"inbox": inbox.pk, "user": user.pk})
    )
    assert response.status_code == 302
    assert InboxMember.objects.filter(inbox=inbox, user=user).exists()
    assert sent == [(user_group(user.pk), {"type": "membership.changed"})]


def test_demotion_in_the_admin_rescopes_the_operator(admin_site):
    boss = UserFactory(profile=Role.ADMINISTRATOR)
    profile = OperatorProfile.objects.get(user=boss)
    response, sent = controls_sent(
        [user_group(boss.pk)],
        lambda: admin_site.post(f"/admin/chat/operatorprofile/{profile.pk}/change/",
                                {"display_name": "Boss", "role": Role.AGENT}),
    )
    assert response.status_code == 302, response.content[:2000]
    assert OperatorProfile.objects.get(pk=profile.pk).role == Role.AGENT
    assert sent == [(user_group(boss.pk), {"type": "membership.changed"})]


def user_form(user, **changes):
    data = {"username": user.username, "first_name": "", "last_name": "", "email": user.email or "",
            "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_deactivating_in_the_admin_revokes_and_releases(admin_site):
    inbox = InboxFactory(enable_auto_assignment=False)
    ann = InboxMemberFactory(inbox=inbox).user
    Token.objects.create(user=ann)
    conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    Conversation.objects.filter(pk=conversation.pk).update(assignee=ann)
    response, sent = controls_sent(
        [user_group(ann.pk)], lambda: admin_site.post(f"/admin/auth/user/{ann.pk}/change/", user_form(ann, is_active=None))
    )
    assert response.status_code == 302, response.content[:3000]
    assert sent == [(user_group(ann.pk), {"type": "socket.close", "code": 4403})]
    assert not Token.objects.filter(user=ann).exists()
    assert Conversation.objects.get(pk=conversation.pk).assignee_id is None


def test_superuser_flag_in_the_admin_rescopes_and_password_change_revokes(admin_site):
    ann = UserFactory()
    Token.objects.create(user=ann)
    response, sent = controls_sent(
        [user_group(ann.pk)],
        lambda: admin_site.post(f"/admin/auth/user/{ann.pk}/change/", user_form(ann, is_superuser="on")),
    )
    assert response.status_code == 302
    assert sent == [(user_group(ann.pk), {"type": "membership.changed"})]
    response, sent = controls_sent(
        [user_group(ann.pk)],
        lambda: admin_site.post(f"/admin/auth/user/{ann.pk}/password/",
                                {"password1": "brand-new-pass-1", "password2": "brand-new-pass-1", "usable_password": "true"}),
    )
    assert response.status_code == 302, response.content[:3000]
    assert sent == [(user_group(ann.pk), {"type": "socket.close", "code": 4401})]
    assert not Token.objects.filter(user=ann).exists()


def test_blocking_in_the_admin_closes_the_visitors_sockets(admin_site):
    contact_inbox = ContactInboxFactory()
    contact = contact_inbox.contact
    data = {"name": contact.name, "email": "", "phone": "", "identifier": "", "blocked": "on",
            "additional_attributes": "{}", "custom_attributes": "{}"}
    response, sent = controls_sent(
        [contact_inbox_group(contact_inbox.pk)],
        lambda: admin_site.post(f"/admin/chat/contact/{contact.pk}/change/", data),
    )
    assert response.status_code == 302, response.content[:3000]
    assert Contact.objects.get(pk=contact.pk).blocked
    assert sent == [(contact_inbox_group(contact_inbox.pk), {"type": "socket.close", "code": 4403})]


def test_deleting_an_inbox_in_the_admin_goes_through_the_service(admin_site):
    inbox = InboxFactory()
    member = InboxMemberFactory(inbox=inbox)
    response, sent = controls_sent(
        [user_group(member.user_id)], lambda: admin_site.post(f"/admin/chat/inbox/{inbox.pk}/delete/", {"post": "yes"})
    )
    assert response.status_code == 302
    assert not Inbox.objects.filter(pk=inbox.pk).exists()
    assert sent == [(user_group(member.user_id), {"type": "membership.changed"})]
