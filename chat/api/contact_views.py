"""Contacts, for operators: list/search, detail, update, block/unblock, their conversations."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.api import serializers as s
from chat.api.conversation_views import conversation_list_response, filters_from
from chat.api.pagination import int_param, limit_param
from chat.api.security import IsOperator
from chat.models import Contact
from chat.payloads import contact_summary, iso
from chat.selectors.contacts import contact_get_for_operator, contact_list_for_operator
from chat.services.contacts import contact_block, contact_unblock, contact_update
from chat.validation import query_text

ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer, 404: s.ErrorSerializer}


def contact_body(contact: Contact) -> dict[str, Any]:
    return {
        **contact_summary(contact),
        "last_activity_at": iso(contact.last_activity_at),
        "additional_attributes": contact.additional_attributes,
        "custom_attributes": contact.custom_attributes,
        "created_at": iso(contact.created_at),
        # Only the caller's inboxes (prefetched by the selector); never the pubsub token.
        "contact_inboxes": [
            {"id": ci.pk, "inbox": ci.inbox_id, "source_id": ci.source_id} for ci in contact.contact_inboxes.all()
        ],
    }


class ContactListView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Name, email, phone or identifier (case-insensitive)."),
            OpenApiParameter("before", int, description="The previous page's next."),
            OpenApiParameter("limit", int, description="Page size, 1-100 (default 25)."),
        ],
        responses={200: s.ContactPageSerializer, **ERRORS}, tags=["contacts"],
        summary="Contacts of the caller's inboxes, newest first",
        operation_id="contacts_list",
    )
    def get(self, request: Request) -> Response:
        page = contact_list_for_operator(
            user=request.user,
            q=query_text(request.query_params, "q"),
            before=int_param(request.query_params, "before"),
            limit=limit_param(request.query_params),
        )
        return Response({"results": [contact_body(c) for c in page.contacts], "next": page.next_before})


class ContactDetailView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: s.ContactSerializer, **ERRORS}, tags=["contacts"], summary="One contact")
    def get(self, request: Request, contact_id: int) -> Response:
        return Response(contact_body(contact_get_for_operator(user=request.user, contact_id=contact_id)))

    @extend_schema(request=s.ContactUpdateInput, responses={200: s.ContactSerializer, **ERRORS}, tags=["contacts"],
                   summary="Update a contact (email validated, phone normalized to E.164)")
    def patch(self, request: Request, contact_id: int) -> Response:
        contact = contact_get_for_operator(user=request.user, contact_id=contact_id)
        data = s.validated(s.ContactUpdateInput, request.data, partial=True)
        # Only the fields sent: an absent email or phone is left as it is, a null one cleared.
        contact_update(contact=contact, **data)
        return Response(contact_body(contact_get_for_operator(user=request.user, contact_id=contact_id)))


class ContactBlockView(APIView):
    permission_classes = [IsOperator]
    blocked = True

    @extend_schema(request=None, responses={200: s.ContactSerializer, **ERRORS}, tags=["contacts"],
                   summary="Block (sockets closed with 4403, new messages refused) or unblock")
    def post(self, request: Request, contact_id: int) -> Response:
        contact = contact_get_for_operator(user=request.user, contact_id=contact_id)
        (contact_block if self.blocked else contact_unblock)(contact=contact)
        return Response(contact_body(contact_get_for_operator(user=request.user, contact_id=contact_id)))


class ContactUnblockView(ContactBlockView):
    blocked = False


class ContactConversationsView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="Default all."),
            OpenApiParameter("cursor", str), OpenApiParameter("limit", int),
        ],
        responses={200: s.ConversationPageSerializer, **ERRORS}, tags=["contacts"],
        summary="The contact's conversations in the caller's inboxes",
    )
    def get(self, request: Request, contact_id: int) -> Response:
        contact_get_for_operator(user=request.user, contact_id=contact_id)
        params = request.query_params.copy()
        params.setdefault("status", "all")
        return conversation_list_response(request, filters_from(params, contact_id=contact_id))
