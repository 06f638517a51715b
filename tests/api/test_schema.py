"""The OpenAPI schema generates without warnings or errors and validates; the UI is served."""
from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    # The same as `manage.py spectacular --validate --fail-on-warn`: raises on any warning or error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    paths = schema["paths"]
    for expected in [
        "/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/profile", "/api/v1/branches/", "/api/v1/inboxes/",
        "/api/v1/inboxes/{inbox_id}/members/", "/api/v1/inboxes/{inbox_id}/members/{user_id}/", "/api/v1/agents/",
        "/api/v1/conversations/", "/api/v1/conversations/meta/", "/api/v1/conversations/{conversation_id}/",
        "/api/v1/conversations/{conversation_id}/assign", "/api/v1/conversations/{conversation_id}/escalate",
        "/api/v1/conversations/{conversation_id}/toggle_status",
        "/api/v1/conversations/{conversation_id}/toggle_priority",
        "/api/v1/conversations/{conversation_id}/read", "/api/v1/conversations/{conversation_id}/messages/",
        "/api/v1/contacts/", "/api/v1/contacts/{contact_id}/", "/api/v1/contacts/{contact_id}/block",
        "/api/v1/contacts/{contact_id}/conversations/", "/api/widget/v1/sessions", "/api/widget/v1/messages",
        "/api/widget/v1/typing", "/api/widget/v1/read",
    ]:
        assert expected in paths, expected
    listing = paths["/api/v1/conversations/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"status", "assignee", "inbox", "branch", "priority", "q",
                                                            "cursor", "limit"}
    assert "widgetToken" in schema["components"]["securitySchemes"]


def test_schema_and_docs_are_served():
    assert APIClient().get("/api/schema/").status_code == 200
    assert APIClient().get("/api/docs/").status_code == 200
