"""Attachments are served only through their signed links."""
from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from chat.models import Attachment


def _upload(client_a, world, name: str, body: bytes, content_type: str) -> dict:
    url = f"/api/v1/conversations/{world.conv_a.pk}/messages/"
    upload = SimpleUploadedFile(name, body, content_type=content_type)
    response = client_a.post(url, {"content": "file", "attachments": [upload]}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["attachments"][0]


def test_signed_link_serves_the_file_to_anyone_holding_it(world, client_a, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    png = b"\x89PNG" + b"0" * 10
    attachment = _upload(client_a, world, "a.png", png, "image/png")
    response = Client().get(attachment["url"])  # no session: the link is the capability
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png
    response.close()
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_non_image_attachment_downloads_instead_of_rendering(world, client_a, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    attachment = _upload(client_a, world, "notes.txt", b"hello", "text/plain")
    response = Client().get(attachment["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    response.close()  # a FileResponse holds its file open until closed


def test_forged_or_other_attachment_signature_is_404(world, client_a, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    first = _upload(client_a, world, "a.png", b"\x89PNG1", "image/png")
    second = _upload(client_a, world, "b.png", b"\x89PNG2", "image/png")
    signature_of_first = first["url"].rstrip("/").rsplit("/", 1)[-1]
    assert Client().get(f"/attachments/{second['id']}/{signature_of_first}/").status_code == 404
    assert Client().get(f"/attachments/{first['id']}/forged/").status_code == 404
    stored = Attachment.objects.get(pk=first["id"])
    assert Client().get(f"/media/{stored.file.name}").status_code == 404  # never by file name
