"""Conversations and their messages, for operators (DESIGN.md §8).

Views parse, call one selector or service, answer. Writes go through the same services as the
socket commands, so the same events are emitted whichever way a change comes in.
"""
from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assignment import services as assignment
from chat.activity import localized_message
from chat.api import serializers as s
from chat.api.pagination import decode_cursor, encode_cursor, int_param, limit_param
from chat.api.parsers import JSONParser
from chat.api.security import IsOperator
from chat.api.transcripts import IgnoreFormatNegotiation, transcript_params, transcript_response
from chat.i18n import active_language
from chat.models import ConversationStatus, MessageDirection
from chat.payloads import message_payload
from chat.selectors.conversations import (
    STATUS_CHOICES,
    ConversationFilters,
    conversation_check_visible,
    conversation_counts_for_operator,
    conversation_get_for_operator,
    conversation_list_for_operator,
    conversation_row,
)
from chat.selectors.messages import message_history_for_operator
from chat.selectors.snapshot import snapshot_read
from chat.selectors.transcripts import transcript_for_operator
from chat.services import conversations as conversation_services
from chat.services.csat import csat_summary
from chat.services.labels import label_clean_name
from chat.services.message_delete import message_delete
from chat.services.messages import message_create
from chat.validation import query_text

ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer, 404: s.ErrorSerializer}

FILTER_PARAMETERS = [
    OpenApiParameter("status", str, enum=list(STATUS_CHOICES), description="Default open."),
    OpenApiParameter("assignee", str, description="me, unassigned, all (default) or a user id."),
    OpenApiParameter("inbox", int),
    OpenApiParameter("branch", int),
    OpenApiParameter("priority", str, enum=["none", "low", "medium", "high", "urgent"]),
    OpenApiParameter("contact", int),
    OpenApiParameter("q", str, description="Contact name, email, phone or message content (case-insensitive)."),
    OpenApiParameter("label", str, description="Only conversations carrying this label (a name)."),
]


def filters_from(params: Any, *, contact_id: int | None = None) -> ConversationFilters:
    return ConversationFilters(
        status=params.get("status") or ConversationStatus.OPEN,
        assignee=params.get("assignee") or "all",
        inbox_id=int_param(params, "inbox"),
        branch_id=int_param(params, "branch"),
        priority=params.get("priority") or None,
        contact_id=contact_id if contact_id is not None else int_param(params, "contact"),
        q=query_text(params, "q"),
        label=label_param(params),
    )


def label_param(params: Any) -> str | None:
    """``?label=`` in the stored form of a name (case and spaces do not matter)."""
    raw = params.get("label")
    return label_clean_name(raw, field="label") if raw not in (None, "") else None


def conversation_list_response(request: Request, filters: ConversationFilters) -> Response:
    after = decode_cursor(request.query_params.get("cursor"))
    limit = limit_param(request.query_params)
    page, last_event_id = snapshot_read(
        lambda: conversation_list_for_operator(user=request.user, filters=filters, after=after, limit=limit)
    )
    return Response({"results": page.rows, "next": next_page_url(request, page.next_key), "last_event_id": last_event_id})


def next_page_url(request: Request, key: tuple[str, int] | None) -> str | None:
    """The next page: this path and query with the opaque ``cursor`` of the last row. A path,
    not an absolute URL, so a TLS-terminating proxy cannot turn it into an http:// link."""
    if key is None:
        return None
    params = request.query_params.copy()
    params["cursor"] = encode_cursor(key)
    return f"{request.path}?{params.urlencode()}"


def conversation_detail(user: Any, conversation_id: int) -> dict[str, Any]:
    conversation, last_event_id = snapshot_read(
        lambda: conversation_get_for_operator(user=user, conversation_id=conversation_id)
    )
    return {**conversation_row(conversation), "csat": csat_summary(conversation_id=conversation.pk),
            "last_event_id": last_event_id}


class ConversationListView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("cursor", str, description="The previous page's next."),
            OpenApiParameter("limit", int, description="Page size, 1-100 (default 25)."),
        ],
        responses={200: s.ConversationPageSerializer, **ERRORS},
        summary="Conversations the caller may see, newest activity first (keyset pages)",
        operation_id="conversations_list",
        tags=["conversations"],
    )
    def get(self, request: Request) -> Response:
        return conversation_list_response(request, filters_from(request.query_params))


class ConversationMetaView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(parameters=FILTER_PARAMETERS[:1] + FILTER_PARAMETERS[2:],
                   responses={200: s.ConversationCountsSerializer, **ERRORS},
                   summary="Counts per assignee tab (mine, unassigned, all)", tags=["conversations"])
    def get(self, request: Request) -> Response:
        return Response(conversation_counts_for_operator(user=request.user, filters=filters_from(request.query_params)))


class ConversationDetailView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: s.ConversationDetailSerializer, **ERRORS}, tags=["conversations"],
                   summary="One conversation, with the event id to resume from")
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(conversation_detail(request.user, conversation_id))

    @extend_schema(request=s.ConversationUpdateInput, responses={200: s.ConversationDetailSerializer, **ERRORS},
                   tags=["conversations"], summary="Change status (snoozed_until), priority, custom attributes")
    def patch(self, request: Request, conversation_id: int) -> Response:
        conversation_check_visible(user=request.user, conversation_id=conversation_id)
        data = s.validated(s.ConversationUpdateInput, request.data, partial=True)
        conversation_services.conversation_update(
            conversation_id=conversation_id,
            actor_user=request.user,
            status=data.get("status"),
            snoozed_until=data.get("snoozed_until"),
            priority=data.get("priority"),
            custom_attributes=data.get("custom_attributes"),
        )
        return Response(conversation_detail(request.user, conversation_id))


class ConversationActionView(APIView):
    """Base of POST /api/v1/conversations/{id}/<action>: scope check, act, answer the conversation."""

    permission_classes = [IsOperator]

    def post(self, request: Request, conversation_id: int) -> Response:
        conversation_check_visible(user=request.user, conversation_id=conversation_id)
        self.act(request, conversation_id)
        return Response(conversation_detail(request.user, conversation_id))

    def act(self, request: Request, conversation_id: int) -> None:
        raise NotImplementedError


def _action_schema(request_shape: Any, summary: str) -> Any:
    return extend_schema(request=request_shape, responses={200: s.ConversationDetailSerializer, **ERRORS},
                         tags=["conversations"], summary=summary)


class AssignView(ConversationActionView):
    @_action_schema(s.AssignInput, "Assign to an operator (assignee_id) or unassign (null)")
    def post(self, request: Request, conversation_id: int) -> Response:
        return super().post(request, conversation_id)

    def act(self, request: Request, conversation_id: int) -> None:
        data = s.validated(s.AssignInput, request.data)
        assignment.assign_conversation(conversation_id=conversation_id, assignee_id=data["assignee_id"],
                                       actor=request.user)


class EscalateView(ConversationActionView):
    @_action_schema(None, "Escalate: priority urgent, assigned to an available supervisor of the branch")
    def post(self, request: Request, conversation_id: int) -> Response:
        return super().post(request, conversation_id)

    def act(self, request: Request, conversation_id: int) -> None:
        assignment.escalate_conversation(conversation_id=conversation_id, actor=request.user)


class ToggleStatusView(ConversationActionView):
    @_action_schema(s.ToggleStatusInput, "{} toggles open <-> resolved (pending/snoozed -> open); or set a status")
    def post(self, request: Request, conversation_id: int) -> Response:
        return super().post(request, conversation_id)

    def act(self, request: Request, conversation_id: int) -> None:
        data = s.validated(s.ToggleStatusInput, request.data or {})
        if data.get("status"):
            conversation_services.conversation_set_status(
                conversation_id=conversation_id, status=data["status"], snoozed_until=data.get("snoozed_until"),
                actor_user=request.user,
            )
        else:
            conversation_services.conversation_toggle_status(conversation_id=conversation_id, actor_user=request.user)


class TogglePriorityView(ConversationActionView):
    @_action_schema(s.TogglePriorityInput, "Set the priority")
    def post(self, request: Request, conversation_id: int) -> Response:
        return super().post(request, conversation_id)

    def act(self, request: Request, conversation_id: int) -> None:
        data = s.validated(s.TogglePriorityInput, request.data)
        conversation_services.conversation_set_priority(
            conversation_id=conversation_id, priority=data["priority"], actor_user=request.user
        )


class ReadView(ConversationActionView):
    @_action_schema(None, "Mark read by operators (agent_last_seen_at; at most one write per 15 s)")
    def post(self, request: Request, conversation_id: int) -> Response:
        return super().post(request, conversation_id)

    def act(self, request: Request, conversation_id: int) -> None:
        conversation_services.touch_assignee_last_seen(conversation_id=conversation_id)


class MessageListView(APIView):
    permission_classes = [IsOperator]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("before", int, description="Only messages with a smaller id (the previous page's next)."),
            OpenApiParameter("limit", int, description="Page size, 1-100 (default 20)."),
        ],
        responses={200: s.MessagePageSerializer, **ERRORS},
        summary="History, newest first (private notes and activity lines included)",
        tags=["messages"],
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        before = int_param(request.query_params, "before")
        limit = limit_param(request.query_params, default=20)
        page, last_event_id = snapshot_read(
            lambda: message_history_for_operator(
                user=request.user, conversation_id=conversation_id, before=before, limit=limit
            )
        )
        # Activity lines in the caller's language (chat.activity; the stored content is the server's).
        language = active_language()
        rows = [localized_message(row, language) for row in page.rows]
        return Response({"results": rows, "next": page.next_before, "last_event_id": last_event_id})

    @extend_schema(
        request={"application/json": s.MessageCreateInput, "multipart/form-data": s.MessageCreateInput},
        responses={201: s.MessageSerializer, 200: OpenApiResponse(s.MessageSerializer, "Idempotent repeat"),
                   **ERRORS},
        summary="Send a reply or a private note (201), or get the stored one back for a repeat (200)",
        tags=["messages"],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation_check_visible(user=request.user, conversation_id=conversation_id)
        data = s.validated(s.MessageCreateInput, request.data)
        files = request.FILES.getlist("attachments") if request.FILES else []
        recorded = message_create(
            conversation_id=conversation_id,
            direction=MessageDirection.OUTGOING,
            content=data.get("content", ""),
            private=data.get("private", False),
            sender_user=request.user,
            echo_id=data.get("echo_id") or None,
            source_id=data.get("source_id") or None,
            attachments=files,
        )
        return Response(message_payload(recorded.message), status=201 if recorded.created else 200)


class MessageDetailView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        request=None,
        responses={200: s.MessageSerializer, **ERRORS},
        summary="Delete a message: the row stays, content and attachments go (content_attributes.deleted)",
        description=(
            "Authors may delete their own outgoing messages and private notes; administrators any message "
            "but activity lines (also a visitor's). Others who see the conversation: 403 permission_denied; "
            "outside the caller's scope: 404. Emits message.updated to everyone who saw the message (the "
            "widget only for a non-private one). A repeat answers 200 with the deleted message again."
        ),
        tags=["messages"],
    )
    def delete(self, request: Request, conversation_id: int, message_id: int) -> Response:
        message = message_delete(message_id=message_id, actor=request.user, conversation_id=conversation_id)
        return Response(message_payload(message))


TRANSCRIPT_PARAMETERS = [
    OpenApiParameter("format", str, enum=["json", "txt"], description="json (default): message objects; txt: plain text."),
    OpenApiParameter("after", int, description="Only messages with a larger id (the previous part's next)."),
]


class TranscriptView(APIView):
    permission_classes = [IsOperator]
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(
        parameters=TRANSCRIPT_PARAMETERS,
        responses={
            (200, "application/json"): s.TranscriptSerializer,
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Readable transcript"),
            **ERRORS,
        },
        summary="Download the transcript, oldest first (private notes and activity lines included, marked)",
        description="An attachment (Content-Disposition). Long conversations come in parts: `next` (json) or "
                    "the last line (txt) gives the `after` for the rest.",
        tags=["conversations"],
    )
    def get(self, request: Request, conversation_id: int) -> Any:
        chosen, after = transcript_params(request.query_params)
        transcript = transcript_for_operator(user=request.user, conversation_id=conversation_id, after=after)
        return transcript_response(transcript, chosen)
