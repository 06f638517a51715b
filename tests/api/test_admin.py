"""Administration: branches, inboxes, members, agents; administrators only."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from chat.events import user_group
from chat.models import Branch, Conversation, Inbox, InboxMember
from chat.services.branches import DEFAULT_BRANCH_CACHE_KEY, get_default_branch
from tests.api.conftest import assert_error, token_client
from tests.controls import controls_sent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_non_administrators_are_refused(world, client_a):
    for method, url in [("get", "/api/v1/branches/"), ("post", "/api/v1/branches/"), ("get", "/api/v1/inboxes/"),
                        ("get", f"/api/v1/inboxes/{world.inbox_a.pk}/"),
                        ("post", f"/api/v1/inboxes/{world.inbox_a.pk}/members/"), ("get", "/api/v1/agents/"),
                        ("delete", f"/api/v1/inboxes/{world.inbox_a.pk}/members/{world.agent_a.pk}/")]:
        assert_error(getattr(client_a, method)(url, {}, format="json"), 403, "permission_denied")


def test_superuser_is_an_administrator(world, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "b@example.com", "password123")
    assert token_client(boss).get("/api/v1/inboxes/").status_code == 200


def test_branch_crud_and_default_cache_invalidated(world, admin_client):
    old_default = get_default_branch()
    assert cache.get(DEFAULT_BRANCH_CACHE_KEY) == old_default.pk
    response = admin_client.post("/api/v1/branches/", {"name": "North", "is_default": True}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "name": "North", "is_default": True}
    assert get_default_branch().pk == body["id"]
    assert not Branch.objects.get(pk=old_default.pk).is_default
    assert admin_client.patch(f"/api/v1/branches/{body['id']}/", {"name": "Nord"}, format="json").json()["name"] == "Nord"
    assert any(b["id"] == body["id"] for b in admin_client.get("/api/v1/branches/").json())
    assert_error(admin_client.delete(f"/api/v1/branches/{world.inbox_a.branch_id}/"), 409, "conflict")
    assert admin_client.delete(f"/api/v1/branches/{old_default.pk}/").status_code == 204
    assert_error(admin_client.get("/api/v1/branches/999999/"), 404, "not_found")


def test_inbox_create_update_rotate_and_secret_only_when_asked(world, admin_client):
    response = admin_client.post("/api/v1/inboxes/", {
        "name": "Shop", "branch": world.inbox_a.branch_id, "channel_type": "web_widget",
        "enable_auto_assignment": True, "max_assignment_limit": None,
        "allowed_origins": ["https://Shop.example/"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["website_token"] and body["hmac_secret"]
    assert body["allowed_origins"] == ["https://shop.example"]
    inbox_id = body["id"]
    listed = admin_client.get("/api/v1/inboxes/").json()
    assert all("hmac_secret" not in row for row in listed)
    assert "hmac_secret" not in admin_client.get(f"/api/v1/inboxes/{inbox_id}/").json()

    patched = admin_client.patch(f"/api/v1/inboxes/{inbox_id}/", {
        "enable_auto_assignment": False, "max_assignment_limit": 3, "assignment_rate_limit": 5,
        "greeting": "Hello!", "business_hours": {"timezone": "UTC"}, "reopen_resolved_conversations": False,
    }, format="json")
    assert patched.status_code == 200, patched.content
    inbox = Inbox.objects.get(pk=inbox_id)
    assert (inbox.enable_auto_assignment, inbox.max_assignment_limit, inbox.assignment_rate_limit) == (False, 3, 5)
    assert inbox.greeting == "Hello!" and inbox.reopen_resolved_conversations is False

    rotated = admin_client.post(f"/api/v1/inboxes/{inbox_id}/rotate_token").json()
    assert rotated["website_token"] != body["website_token"] and "hmac_secret" not in rotated
    secret = admin_client.post(f"/api/v1/inboxes/{inbox_id}/rotate_hmac_secret").json()["hmac_secret"]
    assert secret != body["hmac_secret"]

    assert_error(admin_client.patch(f"/api/v1/inboxes/{inbox_id}/", {"allowed_origins": ["shop.example/path"]},
                                    format="json"), 400, "invalid_data")
    assert_error(admin_client.post("/api/v1/inboxes/", {"name": ""}, format="json"), 400, "invalid_data")
    assert admin_client.delete(f"/api/v1/inboxes/{inbox_id}/").status_code == 204


def test_members_add_list_remove_notify_and_release(world, admin_client):
    url = f"/api/v1/inboxes/{world.inbox_a.pk}/members/"
    newcomer = UserFactory()
    response, sent = controls_sent(
        [user_group(newcomer.pk), user_group(world.agent_a.pk)],
        lambda: admin_client.post(url, {"user_ids": [newcomer.pk, world.agent_a.pk]}, format="json"),
    )
    assert response.status_code == 200
    assert response.json() == {"user_ids": sorted([world.agent_a.pk, newcomer.pk])}
    assert sent == [(user_group(newcomer.pk), {"type": "membership.changed"})]
    assert admin_client.get(url).json() == {"user_ids": sorted([world.agent_a.pk, newcomer.pk])}

    Conversation.objects.filter(pk=world.conv_a.pk).update(assignee=world.agent_a, status="pending")
    response, sent = controls_sent([user_group(world.agent_a.pk)],
                                   lambda: admin_client.delete(f"{url}{world.agent_a.pk}/"))
    assert response.status_code == 204
    assert sent == [(user_group(world.agent_a.pk), {"type": "membership.changed"})]
    assert not InboxMember.objects.filter(inbox=world.inbox_a, user=world.agent_a).exists()
    assert Conversation.objects.get(pk=world.conv_a.pk).assignee_id is None  # released, even pending
    assert_error(admin_client.delete(f"{url}{world.agent_a.pk}/"), 404, "not_found")
    assert_error(admin_client.post(url, {"user_ids": [999999]}, format="json"), 400, "invalid_data")
    assert_error(admin_client.get("/api/v1/inboxes/999999/members/"), 404, "not_found")


def test_agents_create_list_update_deactivate(world, admin_client):
    response = admin_client.post("/api/v1/agents/", {"username": "sam", "password": "s3cret-pass", "email": "sam@x.example",
                                                     "name": "Sam", "role": "supervisor"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "sam" and body["role"] == "supervisor" and body["name"] == "Sam"
    assert body["is_active"] is True
    assert_error(admin_client.post("/api/v1/agents/", {"username": "sam", "password": "s3cret-pass"}, format="json"),
                 409, "conflict")
    assert_error(admin_client.post("/api/v1/agents/", {"username": "x", "password": "s3cret-pass", "role": "god"},
                                   format="json"), 400, "invalid_data")
    assert any(a["username"] == "sam" for a in admin_client.get("/api/v1/agents/").json())
    updated = admin_client.patch(f"/api/v1/agents/{body['id']}/", {"role": "administrator", "name": "Samuel"},
                                 format="json").json()
    assert updated["role"] == "administrator" and updated["name"] == "Samuel"

    login = admin_client.post("/api/v1/auth/login", {"username": "sam", "password": "s3cret-pass"}, format="json")
    assert login.status_code == 200
    response, sent = controls_sent([user_group(body["id"])],
                                   lambda: admin_client.delete(f"/api/v1/agents/{body['id']}/"))
    assert response.status_code == 204
    assert sent == [(user_group(body["id"]), {"type": "socket.close", "code": 4403})]
    assert not Token.objects.filter(user_id=body["id"]).exists()
    assert admin_client.get(f"/api/v1/agents/{body['id']}/").json()["is_active"] is False
    from rest_framework.test import APIClient

    assert_error(APIClient().post("/api/v1/auth/login", {"username": "sam", "password": "s3cret-pass"},
                                  format="json"), 401, "not_authenticated")


def test_removing_a_member_releases_their_conversations_there(world, admin_client, django_capture_on_commit_callbacks):
    from chat.models import Conversation

    Conversation.objects.filter(pk=world.conv_a.pk).update(assignee=world.agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.delete(f"/api/v1/inboxes/{world.inbox_a.pk}/members/{world.agent_a.pk}/")
    assert response.status_code == 204
    world.conv_a.refresh_from_db()
    assert world.conv_a.assignee_id is None


def test_deactivating_an_operator_releases_their_conversations(world, admin_client,
                                                               django_capture_on_commit_callbacks):
    from chat.models import Conversation

    Conversation.objects.filter(pk=world.conv_a.pk).update(assignee=world.agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.patch(f"/api/v1/agents/{world.agent_a.pk}/", {"is_active": False},
                                  format="json").status_code == 200
    world.conv_a.refresh_from_db()
    assert world.conv_a.assignee_id is None
    assert world.conv_a.messages.filter(direction="activity", content__contains="deactivated").exists()
