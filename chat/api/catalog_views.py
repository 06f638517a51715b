"""Canned responses and labels (DESIGN.md §11, docs/desk.md): thin adapters over
chat/services/canned_responses.py, chat/services/labels.py and chat/selectors/catalog.py.

Every operator reads (canned responses within their inboxes' scope); administrators write.
An agent's write answers 403, except on a canned response outside their scope: 404, as a read.
"""
from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.api import catalog_serializers as cs
from chat.api import serializers as s
from chat.api.conversation_views import ConversationActionView, _action_schema
from chat.api.pagination import int_param, limit_param
from chat.api.security import IsOperator
from chat.errors import PermissionDenied
from chat.selectors.catalog import (
    CATALOG_PAGE_DEFAULT,
    CATALOG_PAGE_MAX,
    CatalogPage,
    canned_response_get_for_operator,
    canned_response_list_for_operator,
    label_get,
    label_list,
)
from chat.selectors.scope import operator_is_admin
from chat.services import canned_responses as canned_services
from chat.services import labels as label_services
from chat.validation import query_text

ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer, 404: s.ErrorSerializer}
WRITE_ERRORS = {**ERRORS, 409: s.ErrorSerializer}
PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The previous page's next."),
    OpenApiParameter("limit", int, description=f"Page size, 1-{CATALOG_PAGE_MAX} (default {CATALOG_PAGE_DEFAULT})."),
]


def _require_admin(request: Request) -> None:
    if not operator_is_admin(request.user):
        raise PermissionDenied(_("Only administrators may change this."))


def _page_body(request: Request, page: CatalogPage[Any], shape: Any) -> dict[str, Any]:
    next_url = None
    if page.next_key is not None:
        params = request.query_params.copy()
        params["cursor"] = page.next_key
        next_url = f"{request.path}?{params.urlencode()}"
    return {"results": [shape(row) for row in page.rows], "next": next_url}


def _limit(request: Request) -> int:
    return limit_param(request.query_params, default=CATALOG_PAGE_DEFAULT, maximum=CATALOG_PAGE_MAX)


# --- Canned responses ---------------------------------------------------------------------------


class CannedResponseListView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Short code or content contains this (case-insensitive)."),
            OpenApiParameter("inbox", int, description="What the composer offers in this inbox: its own responses "
                                                       "and the global ones it does not override."),
            *PAGE_PARAMETERS,
        ],
        responses={200: cs.CannedResponsePageSerializer, **ERRORS},
        summary="Canned responses the caller may use, by short code", tags=["canned responses"],
        operation_id="canned_responses_list",
    )
    def get(self, request: Request) -> Response:
        page = canned_response_list_for_operator(
            user=request.user, q=query_text(request.query_params, "q"), inbox_id=int_param(request.query_params, "inbox"),
            after=request.query_params.get("cursor"), limit=_limit(request),
        )
        return Response(_page_body(request, page, cs.canned_response_data))

    @extend_schema(request=cs.CannedResponseInput, responses={201: cs.CannedResponseSerializer, **WRITE_ERRORS},
                   summary="Create a canned response (administrators); 409 if the scope has the short code",
                   tags=["canned responses"])
    def post(self, request: Request) -> Response:
        _require_admin(request)
        data = s.validated(cs.CannedResponseInput, request.data)
        response = canned_services.canned_response_create(
            short_code=data["short_code"], content=data["content"], inbox_id=data.get("inbox"))
        return Response(cs.canned_response_data(response), status=201)


class CannedResponseDetailView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: cs.CannedResponseSerializer, **ERRORS}, summary="One canned response",
                   tags=["canned responses"])
    def get(self, request: Request, response_id: int) -> Response:
        return Response(cs.canned_response_data(canned_response_get_for_operator(user=request.user,
                                                                                 response_id=response_id)))

    @extend_schema(request=cs.CannedResponseUpdateInput, responses={200: cs.CannedResponseSerializer, **WRITE_ERRORS},
                   summary="Change a canned response (administrators)", tags=["canned responses"])
    def patch(self, request: Request, response_id: int) -> Response:
        canned_response_get_for_operator(user=request.user, response_id=response_id)  # 404 outside scope
        _require_admin(request)
        data = s.validated(cs.CannedResponseUpdateInput, request.data, partial=True)
        fields = {"short_code": "short_code", "content": "content", "inbox": "inbox_id"}
        response = canned_services.canned_response_update(
            response_id=response_id, **{fields[k]: v for k, v in data.items() if k in fields})
        return Response(cs.canned_response_data(response))

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete a canned response (administrators)",
                   tags=["canned responses"])
    def delete(self, request: Request, response_id: int) -> Response:
        canned_response_get_for_operator(user=request.user, response_id=response_id)
        _require_admin(request)
        canned_services.canned_response_delete(response_id=response_id)
        return Response(status=204)


# --- Labels ---------------------------------------------------------------------------------------


class LabelListView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="Name or description contains this."), *PAGE_PARAMETERS],
        responses={200: cs.LabelPageSerializer, **ERRORS}, summary="Labels, by name", tags=["labels"],
        operation_id="labels_list",
    )
    def get(self, request: Request) -> Response:
        page = label_list(q=query_text(request.query_params, "q"), after=request.query_params.get("cursor"),
                          limit=_limit(request))
        return Response(_page_body(request, page, cs.label_data))

    @extend_schema(request=cs.LabelInput, responses={201: cs.LabelSerializer, **WRITE_ERRORS},
                   summary="Create a label (administrators); 409 if the name exists", tags=["labels"])
    def post(self, request: Request) -> Response:
        _require_admin(request)
        data = s.validated(cs.LabelInput, request.data)
        label = label_services.label_create(name=data["name"], color=data.get("color"),
                                            description=data.get("description"))
        return Response(cs.label_data(label), status=201)


class LabelDetailView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: cs.LabelSerializer, **ERRORS}, summary="One label", tags=["labels"])
    def get(self, request: Request, label_id: int) -> Response:
        return Response(cs.label_data(label_get(label_id=label_id)))

    @extend_schema(request=cs.LabelInput(partial=True), responses={200: cs.LabelSerializer, **WRITE_ERRORS},
                   summary="Change a label (administrators); a rename updates the conversations carrying it",
                   tags=["labels"])
    def patch(self, request: Request, label_id: int) -> Response:
        _require_admin(request)
        data = s.validated(cs.LabelInput, request.data, partial=True)
        label = label_services.label_update(label_id=label_id, **data)
        return Response(cs.label_data(label))

    @extend_schema(responses={204: None, **ERRORS},
                   summary="Delete a label (administrators); it leaves every conversation (conversation.updated each)",
                   tags=["labels"])
    def delete(self, request: Request, label_id: int) -> Response:
        _require_admin(request)
        label_services.label_delete(label_id=label_id)
        return Response(status=204)


class ConversationLabelsView(ConversationActionView):
    @_action_schema(cs.ConversationLabelsInput,
                    "Replace the conversation's labels (names; unknown names: 400 naming them)")
    def post(self, request: Request, conversation_id: int) -> Response:
        return super().post(request, conversation_id)

    def act(self, request: Request, conversation_id: int) -> None:
        data = s.validated(cs.ConversationLabelsInput, request.data)
        label_services.conversation_set_labels(conversation_id=conversation_id, labels=data["labels"],
                                               actor_user=request.user)
