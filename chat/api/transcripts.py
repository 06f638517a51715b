"""Transcript answers for the operator and widget endpoints (chat/selectors/transcripts.py
decides which messages): ``?format=json`` (default) or ``txt``, as a download.

* json: ``{"conversation_id", "display_id", "generated_at", "messages": [message...], "next"}``,
  each message in the shape of DESIGN.md §8 (``chat.payloads.message_payload``).
* txt: a header, then one entry per message, ``[<UTC ISO time>] <sender>: <content>``; private
  notes are marked ``[note]``, activity lines ``[activity]``; continuation lines of a
  multi-line message are indented; attachments are listed under their message.

``next`` (json) or the last line (txt) tells how to ask for the rest of a long conversation
(``?after=<id>``).
"""
from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from chat.api.pagination import int_param
from chat.errors import InvalidData
from chat.models import MessageDirection
from chat.payloads import iso, message_payload
from chat.selectors.transcripts import Transcript

FORMATS = ("json", "txt")


class IgnoreFormatNegotiation(DefaultContentNegotiation):
    """``?format=`` here names the transcript's format, not a DRF renderer: answers (errors
    included) are JSON whatever it says, and the view validates it."""

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


def transcript_params(params: Any) -> tuple[str, int | None]:
    """``format`` (json or txt) and ``after`` (a message id), or InvalidData."""
    chosen = params.get("format") or "json"
    if chosen not in FORMATS:
        raise InvalidData(_("format must be txt or json."), fields={"format": [_("Must be txt or json.")]})
    return chosen, int_param(params, "after")


def transcript_response(transcript: Transcript, chosen: str) -> HttpResponse | Response:
    conversation = transcript.conversation
    filename = f"conversation-{conversation.display_id or conversation.pk}-transcript.{chosen}"
    if chosen == "txt":
        response: HttpResponse | Response = HttpResponse(transcript_text(transcript),
                                                         content_type="text/plain; charset=utf-8")
    else:
        response = Response({
            "conversation_id": conversation.pk,
            "display_id": conversation.display_id,
            "generated_at": iso(transcript.generated_at),
            "messages": [message_payload(m) for m in transcript.messages],
            "next": transcript.next,
        })
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def transcript_text(transcript: Transcript) -> str:
    conversation = transcript.conversation
    lines = [
        f"Conversation #{conversation.display_id} - {conversation.inbox.name}",
        f"Contact: {conversation.contact.name or 'Visitor'}",
        f"Generated: {iso(transcript.generated_at)} (times in UTC)",
        "",
    ]
    for message in transcript.messages:
        payload = message_payload(message)
        marks = ""
        if message.direction == MessageDirection.ACTIVITY:
            marks = "[activity] "
        elif message.private:
            marks = "[note] "
        sender = payload["sender"]
        who = "" if message.direction == MessageDirection.ACTIVITY else f"{_sender_name(sender)}: "
        content = message.content or ("(deleted)" if message.content_attributes.get("deleted") else "")
        first, *rest = content.split("\n") if content else [""]
        lines.append(f"[{payload['created_at']}] {marks}{who}{first}".rstrip())
        lines.extend(f"    {line}" for line in rest)
        lines.extend(f"    (attachment: {a['file_type']}, {a['size']} bytes)" for a in payload["attachments"])
    if transcript.next is not None:
        lines += ["", f"[continued: request this transcript again with after={transcript.next} for the rest]"]
    return "\n".join(lines) + "\n"


def _sender_name(sender: dict[str, Any] | None) -> str:
    if sender is None:
        return "System"
    return str(sender.get("name") or sender.get("username") or sender["type"].capitalize())
