"""Throttles count in the shared store's atomic window: under concurrency exactly the rate passes
(DRF's cache throttle is read-modify-write: 680 of 680 passed a 600/min limit)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from chat.api.security import LoginThrottle, WidgetIpThrottle
from tests.concurrency import run_concurrently

LIMIT = 5
REQUESTS = 24


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_concurrent_widget_sessions_admit_exactly_the_limit(monkeypatch):
    monkeypatch.setitem(WidgetIpThrottle.THROTTLE_RATES, "widget_ip", f"{LIMIT}/min")

    def start(_index: int) -> int:
        response = APIClient().post("/api/widget/v1/sessions", {"website_token": "unknown"}, format="json")
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "rate_limited"
        return response.status_code

    statuses = run_concurrently(start, REQUESTS)
    assert sorted(statuses) == [404] * LIMIT + [429] * (REQUESTS - LIMIT)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_concurrent_logins_admit_exactly_the_limit(monkeypatch):
    monkeypatch.setitem(LoginThrottle.THROTTLE_RATES, "login", f"{LIMIT}/min")

    def login(_index: int) -> int:
        return APIClient().post("/api/v1/auth/login", {"username": "nobody", "password": "x"}, format="json").status_code

    statuses = run_concurrently(login, REQUESTS)
    assert sorted(statuses) == [401] * LIMIT + [429] * (REQUESTS - LIMIT)


def test_throttled_answer_keeps_the_json_shape_and_retry_after(monkeypatch, db):
    monkeypatch.setitem(WidgetIpThrottle.THROTTLE_RATES, "widget_ip", "1/min")
    client = APIClient()
    assert client.post("/api/widget/v1/sessions", {"website_token": "unknown"}, format="json").status_code == 404
    refused = client.post("/api/widget/v1/sessions", {"website_token": "unknown"}, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused["Retry-After"]) <= 60
