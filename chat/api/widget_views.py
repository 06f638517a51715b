"""Widget REST endpoints (DESIGN.md §8, §11): sessions, messages, typing, read, CSAT, contact.

Every request is throttled per client IP and, with a token, per widget token, *before* the token
is looked up. Answers carry CORS headers for the inbox's allowed origins only (chat/api/cors.py).
"""
from __future__ import annotations

from typing import Any, cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.api import serializers as s
from chat.api.cors import add_cors_headers, origin_allowed, preflight_response, request_origin
from chat.api.pagination import int_param, limit_param
from chat.api.parsers import JSONParser
from chat.api.security import IsWidgetVisitor, WidgetIpThrottle, WidgetTokenAuthentication, WidgetTokenThrottle
from chat.api.transcripts import IgnoreFormatNegotiation, transcript_params, transcript_response
from chat.errors import InvalidData
from chat.i18n import activate_for_visitor, visitor_language_asked
from chat.models import ContactInbox, Inbox
from chat.payloads import conversation_payload, message_payload, widget_conversation_view
from chat.selectors.messages import message_history_for_widget
from chat.selectors.snapshot import snapshot_read
from chat.selectors.transcripts import transcript_for_visitor
from chat.services.contacts import contact_update_by_visitor
from chat.services.conversations import touch_contact_last_seen
from chat.services.csat import csat_submit
from chat.services.inbox_texts import inbox_text
from chat.services.messages import visitor_message_send
from chat.services.queue import queue_status
from chat.services.typing import visitor_draft_discard, visitor_typing_shared
from chat.services.widget import widget_current_conversation, widget_session_start
from presence.selectors import widget_availability

ERRORS = {
    400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer, 404: s.ErrorSerializer,
    429: s.ErrorSerializer,
}
TOKEN_HEADER = OpenApiParameter(
    "X-Widget-Token", str, OpenApiParameter.HEADER, required=True, description="The visitor's pubsub_token."
)


class WidgetView(APIView):
    """Base: widget token auth, throttles first, per-inbox CORS, preflight without auth."""

    authentication_classes = [WidgetTokenAuthentication]
    permission_classes = [IsWidgetVisitor]
    throttle_classes = [WidgetIpThrottle, WidgetTokenThrottle]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method == "OPTIONS":
            return preflight_response(request)
        return super().dispatch(request, *args, **kwargs)

    def perform_authentication(self, request: Request) -> None:
        # Throttle before looking the token up: guessing tokens costs the guesser its quota.
        super().check_throttles(request)
        super().perform_authentication(request)

    def check_throttles(self, request: Request) -> None:
        """Done in perform_authentication."""

    def cors_inbox(self, request: Request) -> Inbox | None:
        # Only what authentication already found (a throttled request never looked its token up).
        auth = getattr(request, "_auth", None)
        return auth.inbox if isinstance(auth, ContactInbox) else getattr(request, "cors_inbox", None)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request_origin(request)
        # After a failed authentication request.auth is None: no inbox, no CORS grant.
        return add_cors_headers(response, origin=origin, allowed=origin_allowed(origin, self.cors_inbox(request)))

    @property
    def contact_inbox(self) -> ContactInbox:
        # WidgetTokenAuthentication puts the ContactInbox in request.auth (IsWidgetVisitor checks it).
        return cast(ContactInbox, self.request.auth)


class WidgetSessionView(WidgetView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=s.WidgetSessionInput,
        responses={201: s.WidgetSessionOutput, 200: s.WidgetSessionOutput, **ERRORS},
        summary="Open (201) or resume (200) a visitor session",
        description=(
            "With the source_id of a visitor of this inbox: the same contact inbox (200). With identifier + "
            "identifier_hash (hex HMAC-SHA256 of identifier with the inbox's secret): the identified contact; "
            "an identifier without a valid hash is refused (403 permission_denied)."
        ),
        tags=["widget"],
    )
    def post(self, request: Request) -> Response:
        # The widget's language (optional ``locale``) for this answer's messages, validation first.
        requested = request.data.get("locale") if isinstance(request.data, dict) else None
        accept_language = request.META.get("HTTP_ACCEPT_LANGUAGE")
        activate_for_visitor(requested=requested, accept_language=accept_language)
        data = s.validated(s.WidgetSessionInput, request.data)
        asked = visitor_language_asked(requested=requested, accept_language=accept_language)
        session = widget_session_start(
            website_token=data["website_token"],
            source_id=data.get("source_id"),
            identifier=data.get("identifier"),
            identifier_hash_value=data.get("identifier_hash"),
            name=data.get("name"),
            email=data.get("email"),
            phone=data.get("phone"),
            custom_attributes=data.get("custom_attributes"),
            locale=asked,
        )
        contact_inbox = session.contact_inbox
        request.cors_inbox = contact_inbox.inbox  # type: ignore[attr-defined]  # a note for cors_inbox(), read by getattr
        conversation = (
            widget_conversation_view(conversation_payload(session.conversation)) if session.conversation else None
        )
        availability = widget_availability(inbox=contact_inbox.inbox)
        body = {
            "contact": {"id": contact_inbox.contact_id, "name": contact_inbox.contact.name},
            "contact_inbox": {"source_id": contact_inbox.source_id, "pubsub_token": contact_inbox.pubsub_token},
            "conversation": conversation,
            "inbox": {
                "id": contact_inbox.inbox_id, "name": contact_inbox.inbox.name,
                "greeting": inbox_text(contact_inbox.inbox, "greeting", asked), "locale": contact_inbox.inbox.locale,
                "sneak_peek": contact_inbox.inbox.sneak_peek,
            },
            "online": availability["online"],
            "next_open_at": availability["next_open_at"],
            "queue": queue_status(conversation=session.conversation),
        }
        return Response(body, status=201 if session.created else 200)

    def cors_inbox(self, request: Request) -> Inbox | None:
        return getattr(request, "cors_inbox", None)


class WidgetMessagesView(WidgetView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        parameters=[
            TOKEN_HEADER,
            OpenApiParameter("conversation_id", int, description="Only this one of the visitor's conversations."),
            OpenApiParameter("before", int, description="Only messages with a smaller id (the previous page's next)."),
            OpenApiParameter("limit", int, description="Page size, 1-100 (default 20)."),
        ],
        responses={200: s.MessagePageSerializer, **ERRORS},
        summary="The visitor's messages, newest first (no private notes, no activity lines)",
        tags=["widget"],
    )
    def get(self, request: Request) -> Response:
        conversation_id = int_param(request.query_params, "conversation_id")
        before = int_param(request.query_params, "before")
        limit = limit_param(request.query_params, default=20)
        page, last_event_id = snapshot_read(
            lambda: message_history_for_widget(
                contact_inbox=self.contact_inbox, conversation_id=conversation_id, before=before, limit=limit
            )
        )
        return Response({"results": page.rows, "next": page.next_before, "last_event_id": last_event_id})

    @extend_schema(
        parameters=[TOKEN_HEADER],
        request={"application/json": s.WidgetMessageInput, "multipart/form-data": s.WidgetMessageInput},
        responses={201: s.MessageSerializer, 200: OpenApiResponse(s.MessageSerializer, "Idempotent repeat"), **ERRORS},
        summary="Send a visitor message (201), or get the stored one back for a repeated echo_id (200)",
        tags=["widget"],
    )
    def post(self, request: Request) -> Response:
        data = s.validated(s.WidgetMessageInput, request.data)
        files = request.FILES.getlist("attachments") if request.FILES else []
        visitor_draft_discard(contact_inbox_id=self.contact_inbox.pk)  # the text is sent, no longer a draft
        recorded = visitor_message_send(
            contact_inbox_id=self.contact_inbox.pk,
            content=data.get("content", ""),
            echo_id=data.get("echo_id") or None,
            attachments=files,
        )
        return Response(message_payload(recorded.message), status=201 if recorded.created else 200)


class WidgetCsatView(WidgetView):
    @extend_schema(
        parameters=[TOKEN_HEADER], request=s.WidgetCsatInput,
        responses={201: s.WidgetCsatOutput, 200: OpenApiResponse(s.WidgetCsatOutput, "Replaced an earlier answer"),
                   409: s.ErrorSerializer, **ERRORS},
        summary="Rate a resolved conversation 1-5 (201); a second answer within 24 h replaces the first (200)",
        description=(
            "Only the conversation's own visitor (else 404 not_found), only after its survey was sent (an inbox with "
            "csat_survey_enabled, the conversation resolved): else 409 conflict. After 24 h the answer is final (409)."
        ),
        tags=["widget"],
    )
    def post(self, request: Request) -> Response:
        data = s.validated(s.WidgetCsatInput, request.data)
        answer = csat_submit(contact_inbox_id=self.contact_inbox.pk, conversation_id=data["conversation_id"],
                             rating=data["rating"], feedback=data.get("feedback"))
        return Response(answer.as_dict(), status=201 if answer.created else 200)


class WidgetContactView(WidgetView):
    @extend_schema(
        parameters=[TOKEN_HEADER], request=s.WidgetContactInput, responses={200: s.WidgetContactOutput, **ERRORS},
        summary="The visitor leaves their email (and name) so the team can answer later",
        tags=["widget"],
    )
    def patch(self, request: Request) -> Response:
        data = s.validated(s.WidgetContactInput, request.data)
        contact = contact_update_by_visitor(contact_inbox=self.contact_inbox, email=data["email"], name=data.get("name"))
        return Response({"id": contact.pk, "name": contact.name, "email": contact.email})


class WidgetTypingView(WidgetView):
    @extend_schema(
        parameters=[TOKEN_HEADER], request=s.WidgetTypingInput, responses={204: None, **ERRORS},
        summary="The visitor started or stopped typing (ephemeral, to the inbox's operators)",
        description=(
            "With the inbox's sneak_peek on, `draft` (the unsent text, cut to 1,000 characters) reaches the "
            "operators in the typing frame's `data.draft`: at most one frame per 500 ms per visitor, the latest "
            "draft of a window sent at its end. Never stored; dropped when sneak_peek is off."
        ),
        tags=["widget"],
    )
    def post(self, request: Request) -> Response:
        data = s.validated(s.WidgetTypingInput, request.data)
        conversation = widget_current_conversation(contact_inbox=self.contact_inbox)
        if conversation is not None:
            visitor_typing_shared(contact_inbox_id=self.contact_inbox.pk, conversation_id=conversation.pk,
                                  typing=data["typing"], draft=data.get("draft"))
        return Response(status=204)


class WidgetReadView(WidgetView):
    @extend_schema(
        parameters=[TOKEN_HEADER], request=None, responses={204: None, **ERRORS},
        summary="The visitor read their conversation (contact_last_seen_at, at most once per 15 s)", tags=["widget"],
    )
    def post(self, request: Request) -> Response:
        conversation = widget_current_conversation(contact_inbox=self.contact_inbox)
        if conversation is not None:
            touch_contact_last_seen(conversation_id=conversation.pk)
        return Response(status=204)


class WidgetTranscriptView(WidgetView):
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(
        parameters=[
            TOKEN_HEADER,
            OpenApiParameter("conversation_id", int, required=True, description="One of the visitor's conversations."),
            OpenApiParameter("format", str, enum=["json", "txt"], description="json (default) or txt."),
            OpenApiParameter("after", int, description="Only messages with a larger id (the previous part's next)."),
        ],
        responses={
            (200, "application/json"): s.TranscriptSerializer,
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Readable transcript"),
            **ERRORS,
        },
        summary="Download the visitor's transcript, oldest first (public messages only)",
        tags=["widget"],
    )
    def get(self, request: Request) -> Any:
        chosen, after = transcript_params(request.query_params)
        conversation_id = int_param(request.query_params, "conversation_id")
        if conversation_id is None:
            raise InvalidData(_("conversation_id is required."), fields={"conversation_id": [_("Required.")]})
        transcript = transcript_for_visitor(contact_inbox=self.contact_inbox, conversation_id=conversation_id,
                                            after=after)
        return transcript_response(transcript, chosen)
