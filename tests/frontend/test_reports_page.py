"""The Reports page's server side (docs/reports.md): login, boot data scoped to the operator,
the vendored chart library served with its licence, a link from the panel."""
from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.factories import InboxFactory, InboxMemberFactory, UserFactory

pytestmark = pytest.mark.django_db

UPLOT = "/static/frontend/vendor/uplot-1.6.32/"


def test_reports_page_requires_login():
    response = Client().get("/app/reports/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/app/reports/"


def test_reports_page_boots_with_the_operators_inboxes_only():
    mine, other = InboxFactory(name="Mine"), InboxFactory(name="Other")
    agent = UserFactory()
    InboxMemberFactory(inbox=mine, user=agent)
    InboxMemberFactory(inbox=other, user=UserFactory())
    client = Client()
    client.force_login(agent)
    page = client.get("/app/reports/").content.decode()
    boot = json.loads(page.split('<script id="boot" type="application/json">')[1].split("</script>")[0])
    assert boot["user"]["id"] == agent.pk and boot["user"]["role"] == "agent"
    assert boot["inboxes"] == [{"id": mine.pk, "name": "Mine"}]
    assert f'src="{UPLOT}uPlot.iife.min.js"' in page and "panel/reports.js" in page
    assert 'href="/app/reports/"' in client.get("/app/").content.decode()  # the panel links to it


@pytest.mark.parametrize("name", ["uPlot.iife.min.js", "uPlot.min.css", "LICENSE"])
def test_the_chart_library_is_served_from_here(name):
    response = Client().get(UPLOT + name)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    response.close()
    assert body
    if name == "LICENSE":
        assert body.startswith(b"The MIT License") and b"Leon Sorokin" in body
    if name.endswith(".js"):
        assert body.startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
