"""Unknown paths under /api/ answer the JSON 404 for every method (DESIGN §11): never Django's
HTML pages, not even the CSRF failure page for a cookie-less POST from a browser."""
from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/nothing/", "/api/v1/nowhere/else", "/api/v1/conversations/abc/"])
def test_unknown_api_paths_answer_json_404_for_every_method(method, path):
    client = Client(enforce_csrf_checks=True)  # as a browser: the CSRF check is on
    response = client.generic(method.upper(), path, "{}", content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)["error"]["code"] == "not_found"
