"""/healthz, /readyz, /metrics and the Swagger UI's own files (DESIGN.md §13, issue 12 point 5).

In-process through Django's test client; /readyz against a private Redis server that the test
kills (tests/faults.py), so the shared one is never touched. Runs in the embedded mode too.
"""
from __future__ import annotations

import re
import time

import pytest
from django.test import Client

from project import ops
from tests.faults import PrivateRedis


@pytest.fixture
def private_redis_ready(settings):
    """/readyz pointed at a private Redis (the shared one stays up for everything else)."""
    with PrivateRedis() as server:
        settings.REDIS_URL = server.url
        ops._redis_client.cache_clear()
        try:
            yield server
        finally:
            ops._redis_client.cache_clear()


def test_healthz_answers_without_database_or_redis() -> None:
    # No django_db mark: any database access would fail this test.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_ok_names_both_services(settings) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    expected_redis = "ok" if settings.REDIS_URL else "not_configured"
    assert response.json() == {"database": "ok", "redis": expected_redis}


@pytest.mark.django_db(transaction=True)
def test_readyz_names_redis_when_it_is_killed(private_redis_ready) -> None:
    client = Client()
    assert client.get("/readyz").json() == {"database": "ok", "redis": "ok"}
    private_redis_ready.kill()
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 3.0  # bounded by READY_CHECK_TIMEOUT_SECONDS
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "redis": "unavailable"}


@pytest.mark.django_db(transaction=True)
def test_readyz_is_bounded_when_redis_does_not_answer(settings) -> None:
    # A port that accepts connections and never answers (a hung Redis).
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        settings.READY_CHECK_TIMEOUT_SECONDS = 0.5
        ops._redis_client.cache_clear()
        try:
            started = time.monotonic()
            response = Client().get("/readyz")
            elapsed = time.monotonic() - started
        finally:
            ops._redis_client.cache_clear()
    assert response.status_code == 503 and response.json()["redis"] == "unavailable"
    assert elapsed < 2.0


def test_ops_endpoints_need_no_login_nor_csrf() -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405  # GET only, and never a CSRF 403


@pytest.mark.django_db(transaction=True)
def test_metrics_exposes_the_messenger_metrics() -> None:
    client = Client()
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in (
        'messenger_sockets_open{kind="operator"}',
        'messenger_sockets_open{kind="widget"}',
        "# TYPE messenger_commands_total counter",
        "# TYPE messenger_events_written_total counter",
        'messenger_events_delivered_total{transport="websocket"}',
        "messenger_stream_lag_events ",
        "# TYPE messenger_http_request_duration_seconds histogram",
        "# TYPE messenger_webhook_deliveries_total counter",
    ):
        assert name in text, name
    assert 'messenger_http_request_duration_seconds_count{method="GET",route="healthz",status="200"}' in text


@pytest.mark.django_db(transaction=True)
def test_http_latency_is_labelled_by_url_pattern_not_path() -> None:
    client = Client()
    client.get("/attachments/12345/not-a-signature/")
    client.get("/no/such/page-98765")
    text = client.get("/metrics").content.decode()
    assert 'route="attachments/<int:pk>/<str:signature>/"' in text
    assert 'route="unmatched"' in text
    # In the labels, that is: a sample's value (a *_created timestamp) may hold any digits.
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert not [route for route in routes if "12345" in route or "98765" in route]


@pytest.mark.django_db(transaction=True)
def test_metrics_token(settings) -> None:
    settings.METRICS_TOKEN = "s3cret-token"
    client = Client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "not_authenticated"
    assert missing["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "s3cret-token"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and b"messenger_sockets_open" in ok.content


@pytest.mark.django_db(transaction=True)
def test_swagger_ui_is_served_from_the_app_not_a_cdn() -> None:
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
    bundle = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert bundle in html
    asset = client.get(bundle)
    assert asset.status_code == 200
    body = b"".join(asset.streaming_content) if asset.streaming else asset.content
    assert b"SwaggerUIBundle" in body


def test_request_id_is_echoed_or_generated() -> None:
    client = Client()
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert given["X-Request-ID"] == "lb-7f3a.42"
    generated = client.get("/healthz")
    assert len(generated["X-Request-ID"]) == 16
    forged = client.get("/healthz", headers={"X-Request-ID": "x y\tINFO fake line"})
    assert forged["X-Request-ID"] != "x y\tINFO fake line" and " " not in forged["X-Request-ID"]
