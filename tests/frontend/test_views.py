"""The frontend's server side: pages, widget loader and frame, public widget config, statics."""
from __future__ import annotations

import json

import pytest
from django.test import Client

from chat.models import Role
from tests.factories import InboxFactory, InboxMemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_panel_requires_login_and_redirects_there():
    response = Client().get("/app/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/app/"


def test_login_page_signs_in_and_lands_on_the_panel():
    UserFactory(username="ann")
    client = Client()
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "ann", "password": "password123", "next": "/app/"})
    assert response.status_code == 302 and response["Location"] == "/app/"
    wrong = Client().post("/login/", {"username": "ann", "password": "nope"})
    assert wrong.status_code == 200 and b"Wrong username or password" in wrong.content


def test_panel_boot_data_lists_only_the_operators_inboxes_with_members():
    mine, other = InboxFactory(name="Mine"), InboxFactory(name="Other")
    agent, colleague = UserFactory(), UserFactory()
    InboxMemberFactory(inbox=mine, user=agent)
    InboxMemberFactory(inbox=mine, user=colleague)
    InboxMemberFactory(inbox=other, user=UserFactory())
    client = Client()
    client.force_login(agent)
    page = client.get("/app/").content.decode()
    boot = json.loads(page.split('<script id="boot" type="application/json">')[1].split("</script>")[0])
    assert boot["user"]["id"] == agent.pk
    assert [inbox["name"] for inbox in boot["inboxes"]] == ["Mine"]
    assert {m["id"] for m in boot["inboxes"][0]["members"]} == {agent.pk, colleague.pk}
    assert all(m["status"] == "offline" for m in boot["inboxes"][0]["members"])


def test_administrators_see_every_inbox_in_the_panel():
    InboxFactory(name="A"), InboxFactory(name="B")
    client = Client()
    client.force_login(UserFactory(profile=Role.ADMINISTRATOR))
    page = client.get("/app/").content.decode()
    assert '"name": "A"' in page and '"name": "B"' in page


def test_widget_loader_is_javascript_and_cacheable():
    response = Client().get("/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "max-age=300" in response["Cache-Control"]
    assert b"window.$messenger" in b"".join(response.streaming_content)
    response.close()


def test_widget_frame_may_be_framed_only_by_the_inbox_origins():
    inbox = InboxFactory(allowed_origins=["https://shop.example"])
    response = Client().get(f"/widget/frame/?website_token={inbox.website_token}&transport=sse")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    assert response["Content-Security-Policy"] == "frame-ancestors 'self' https://shop.example"
    assert b'"transport": "sse"' in response.content
    assert Client().get("/widget/frame/?website_token=nope").status_code == 404


def test_widget_config_is_public_and_minimal():
    inbox = InboxFactory(name="Shop", greeting="Hi <b>there</b>")
    body = Client().get(f"/widget/config/?website_token={inbox.website_token}").json()
    assert body == {"name": "Shop", "greeting": "Hi <b>there</b>", "operators_available": False,
                    "online": False, "next_open_at": None, "out_of_office_message": "", "sneak_peek": False,
                    "locale": "", "csat_question": "Please rate this conversation."}
    assert Client().get("/widget/config/?website_token=unknown").status_code == 404


def test_demo_page_embeds_the_snippet():
    inbox = InboxFactory()
    page = Client().get(f"/demo/?website_token={inbox.website_token}&transport=poll").content.decode()
    assert f'data-website-token="{inbox.website_token}" data-transport="poll"' in page


def test_demo_page_and_frame_carry_the_widget_language():
    inbox = InboxFactory(locale="ru")
    page = Client().get(f"/demo/?website_token={inbox.website_token}&locale=en-GB").content.decode()
    assert f'data-website-token="{inbox.website_token}" data-locale="en" async' in page
    assert "data-locale" not in Client().get(f"/demo/?website_token={inbox.website_token}&locale=xx").content.decode()
    frame = Client().get(f"/widget/frame/?website_token={inbox.website_token}&locale=en").content.decode()
    boot = json.loads(frame.split('<script id="boot" type="application/json">')[1].split("</script>")[0])
    assert (boot["locale"], boot["inbox_locale"]) == ("en", "ru")
    assert '<html lang="en">' in frame


@pytest.mark.parametrize("path", ["/static/frontend/panel/main.js", "/static/frontend/widget/widget.css"])
def test_statics_are_served_without_debug_and_revalidated(path):
    response = Client().get(path)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache"
    response.close()  # a FileResponse holds its file open until closed
    again = Client().get(path, HTTP_IF_MODIFIED_SINCE=response["Last-Modified"])
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/static/../project/settings.py", "/static/frontend/../../views.py", "/static/"])
def test_statics_never_leave_the_static_directories(path):
    assert Client().get(path).status_code == 404


def test_signing_out_of_the_panel_revokes_that_session_for_its_sockets():
    from chat.events import user_group
    from chat.realtime.control import credential_fingerprint
    from tests.controls import controls_sent

    ann = UserFactory()
    client = Client()
    client.force_login(ann)
    session_key = client.cookies["sessionid"].value
    response, sent = controls_sent([user_group(ann.pk)], lambda: client.post("/logout/"))
    assert response.status_code == 302
    assert sent == [(user_group(ann.pk), {"type": "credential.revoked",
                                          "fingerprint": credential_fingerprint("session", session_key),
                                          "code": 4401})]
    assert Client().get("/app/").status_code == 302


def test_favicon_is_served():
    client = Client()
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)
    icon.close()
    assert b'rel="icon"' in client.get("/login/").content


def test_every_admin_model_has_a_correct_english_plural(admin_client):
    """The admin index names each registered model by its plural ("Branchs" and "Contact
    inboxs" once shipped): every one must be the model's name made plural the English way."""
    from django.contrib import admin

    irregular = {"person": "people", "child": "children", "status": "statuses", "address": "addresses"}

    def english_plural(noun: str) -> str:
        *head, last = noun.split(" ")
        if last in irregular:
            plural = irregular[last]
        elif last.endswith(("s", "sh", "ch", "x", "z")):
            plural = last + "es"
        elif last.endswith("y") and last[-2:-1] not in "aeiou":
            plural = last[:-1] + "ies"
        else:
            plural = last + "s"
        return " ".join([*head, plural])

    index = admin_client.get("/admin/").content.decode()
    assert admin.site._registry
    for model in admin.site._registry:
        meta = model._meta
        expected = english_plural(str(meta.verbose_name).lower())
        assert str(meta.verbose_name_plural).lower() == expected, model
        assert f">{str(meta.verbose_name_plural).capitalize()}<" in index, model
