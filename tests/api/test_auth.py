"""Login, logout, profile; token and session authentication; the login throttle."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from chat.api.security import LoginThrottle
from chat.models import OperatorProfile, Role
from tests.api.conftest import assert_error, token_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_login_returns_token_user_and_session_cookie():
    user = UserFactory(username="ann", profile=Role.SUPERVISOR)
    client = APIClient()
    response = client.post("/api/v1/auth/login", {"username": "ann", "password": "password123"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"id": user.pk, "username": "ann", "role": "supervisor"}
    assert body["token"]
    assert "sessionid" in response.cookies
    # Both credentials work afterwards.
    assert client.get("/api/v1/profile").status_code == 200
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert other.get("/api/v1/profile").json()["username"] == "ann"


def test_login_by_email_and_superuser_is_administrator(django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "password123")
    response = APIClient().post("/api/v1/auth/login", {"username": "boss@example.com", "password": "password123"},
                                format="json")
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "administrator"
    assert OperatorProfile.objects.filter(user__username="boss").exists()  # made on demand


def test_wrong_password_and_inactive_user_are_refused():
    UserFactory(username="ann")
    assert_error(APIClient().post("/api/v1/auth/login", {"username": "ann", "password": "nope"}, format="json"),
                 401, "not_authenticated")
    UserFactory(username="gone", is_active=False)
    assert_error(APIClient().post("/api/v1/auth/login", {"username": "gone", "password": "password123"},
                                  format="json"), 401, "not_authenticated")
    assert_error(APIClient().post("/api/v1/auth/login", {"username": "ann"}, format="json"), 400, "invalid_data")


def test_login_is_throttled_with_the_json_error(monkeypatch):
    monkeypatch.setitem(LoginThrottle.THROTTLE_RATES, "login", "3/min")
    UserFactory(username="ann")
    client = APIClient()
    for _ in range(3):
        client.post("/api/v1/auth/login", {"username": "ann", "password": "wrong"}, format="json")
    error = assert_error(client.post("/api/v1/auth/login", {"username": "ann", "password": "password123"},
                                     format="json"), 429, "rate_limited")
    assert "message" in error


def test_session_auth_needs_csrf_on_unsafe_methods():
    UserFactory(username="ann")
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/api/v1/auth/login", {"username": "ann", "password": "password123"}, format="json")
    assert response.status_code == 200  # login itself needs no CSRF token (no session yet)
    assert client.get("/api/v1/profile").status_code == 200
    assert_error(client.patch("/api/v1/profile", {"display_name": "X"}, format="json"), 403, "permission_denied")
    csrf = response.cookies["csrftoken"].value
    ok = client.patch("/api/v1/profile", {"display_name": "X"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert ok.status_code == 200, ok.content


def test_logout_ends_session_and_revokes_the_token_used():
    user = UserFactory(username="ann")
    client = token_client(user)
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert_error(client.get("/api/v1/profile"), 401, "not_authenticated")

    session = APIClient()
    session.post("/api/v1/auth/login", {"username": "ann", "password": "password123"}, format="json")
    assert session.post("/api/v1/auth/logout").status_code == 204
    assert_error(session.get("/api/v1/profile"), 401, "not_authenticated")


def test_unauthenticated_requests_get_the_json_error():
    assert_error(APIClient().get("/api/v1/conversations/"), 401, "not_authenticated")


def test_profile_get_and_patch_name_and_availability():
    user = UserFactory(username="ann")
    client = token_client(user)
    body = client.get("/api/v1/profile").json()
    assert body["username"] == "ann" and body["role"] == "agent" and body["availability"] == "online"
    response = client.patch("/api/v1/profile", {"display_name": "Ann B.", "availability": "busy"}, format="json")
    assert response.status_code == 200
    assert response.json()["display_name"] == "Ann B."
    assert response.json()["name"] == "Ann B."
    assert response.json()["availability"] == "busy"
    assert OperatorProfile.objects.get(user=user).availability == "busy"
    assert_error(client.patch("/api/v1/profile", {"availability": "asleep"}, format="json"), 400, "invalid_data")


def test_unknown_paths_under_api_answer_the_json_404(world, client_a):
    assert_error(client_a.get("/api/v1/conversations/abc/"), 404, "not_found")
    assert_error(client_a.post("/api/v1/no-such-thing", {}, format="json"), 404, "not_found")
    assert_error(APIClient().get("/api/v2/"), 404, "not_found")


def test_password_change_voids_the_old_token_and_every_session(world, admin_client):
    ann = world.agent_a
    old = token_client(ann)
    session = APIClient()
    session.force_login(ann)
    assert old.get("/api/v1/profile").status_code == 200 and session.get("/api/v1/profile").status_code == 200
    response = admin_client.patch(f"/api/v1/agents/{ann.pk}/", {"password": "another-pass-77"}, format="json")
    assert response.status_code == 200
    assert_error(old.get("/api/v1/profile"), 401, "not_authenticated")
    assert session.get("/api/v1/profile").status_code in (401, 403)
    relogin = APIClient().post("/api/v1/auth/login", {"username": ann.username, "password": "another-pass-77"},
                               format="json")
    assert relogin.status_code == 200 and relogin.json()["token"] != old._credentials["HTTP_AUTHORIZATION"][6:]


def test_a_demoted_administrator_loses_the_admin_view_on_the_next_request(world, admin_client):
    boss = UserFactory(profile=Role.ADMINISTRATOR)
    boss_client = token_client(boss)
    assert boss_client.get(f"/api/v1/conversations/{world.conv_b.pk}/").status_code == 200
    assert admin_client.patch(f"/api/v1/agents/{boss.pk}/", {"role": "agent"}, format="json").status_code == 200
    assert_error(boss_client.get(f"/api/v1/conversations/{world.conv_b.pk}/"), 404, "not_found")
    assert_error(boss_client.post(f"/api/v1/conversations/{world.conv_b.pk}/assign", {"assignee_id": None},
                                  format="json"), 404, "not_found")
    assert_error(boss_client.get("/api/v1/inboxes/"), 403, "permission_denied")
