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
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from chat.activity import localized_message
from chat.api.pagination import int_param
from chat.errors import InvalidData
from chat.i18n import active_language
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
    """In the reader's language (the one the request activated: chat.i18n)."""
    conversation = transcript.conversation
    language = active_language()
    filename = f"conversation-{conversation.display_id or conversation.pk}-transcript.{chosen}"
    if chosen == "txt":
        response: HttpResponse | Response = HttpResponse(transcript_text(transcript),
                                                         content_type="text/plain; charset=utf-8")
    else:
        response = Response({
            "conversation_id": conversation.pk,
            "display_id": conversation.display_id,
            "generated_at": iso(transcript.generated_at),
            "messages": [localized_message(message_payload(m), language) for m in transcript.messages],
            "next": transcript.next,
        })
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def transcript_text(transcript: Transcript) -> str:
    conversation = transcript.conversation
    language = active_language()
    lines = [
        gettext("Conversation #{number} - {inbox}").format(number=conversation.display_id, inbox=conversation.inbox.name),
        gettext("Contact: {name}").format(name=conversation.contact.display_name),
        gettext("Generated: {time} (times in UTC)").format(time=iso(transcript.generated_at)),
        "",
    ]
    for message in transcript.messages:
        payload = localized_message(message_payload(message), language)
        marks = ""
        if message.direction == MessageDirection.ACTIVITY:
            marks = "[{}] ".format(gettext("activity"))
        elif message.private:
            marks = "[{}] ".format(gettext("note"))
        sender = payload["sender"]
        who = "" if message.direction == MessageDirection.ACTIVITY else f"{_sender_name(sender, conversation)}: "
        content = payload["content"] or (gettext("(deleted)") if message.content_attributes.get("deleted") else "")
        first, *rest = content.split("\n") if content else [""]
        lines.append(f"[{payload['created_at']}] {marks}{who}{first}".rstrip())
        lines.extend(f"    {line}" for line in rest)
        lines.extend("    " + gettext("(attachment: {type}, {size} bytes)").format(type=a["file_type"], size=a["size"])
                     for a in payload["attachments"])
    if transcript.next is not None:
        lines += ["", gettext("[continued: request this transcript again with after={after} for the rest]").format(
            after=transcript.next)]
    return "\n".join(lines) + "\n"


def _sender_name(sender: dict[str, Any] | None, conversation: Any) -> str:
    if sender is None:
        return gettext("System")
    if sender["type"] == "contact" and sender.get("id") == conversation.contact_id:
        return str(conversation.contact.display_name)
    if sender.get("name") or sender.get("username"):
        return str(sender.get("name") or sender.get("username"))
    return gettext("Visitor") if sender["type"] == "contact" else gettext("Operator")
