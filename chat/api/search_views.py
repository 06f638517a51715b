"""Search across conversations, for operators (DESIGN.md §12; docs/api.md "Search").

The conversation list's ``q`` lives in conversation_views; this is the message hits endpoint.
The view parses, calls the one owner (chat.selectors.search), answers.
"""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.api import serializers as s
from chat.api.pagination import int_param, limit_param
from chat.api.security import IsOperator
from chat.errors import InvalidData
from chat.selectors.search import message_search_for_operator
from chat.validation import query_text

ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer}


class MessageSearchView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description=(
                "Words to find in message content (PostgreSQL websearch syntax: words ANDed, "
                '"a phrase", -excluded, or). At most 200 characters.')),
            OpenApiParameter("before", int, description="The previous page's next_before (older hits)."),
            OpenApiParameter("limit", int, description="Page size, 1-100 (default 20)."),
        ],
        responses={200: s.MessageSearchPageSerializer, **ERRORS},
        summary="Messages matching q in the caller's inboxes, newest first, with highlighted snippets",
        operation_id="search_messages",
        tags=["search"],
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        q = query_text(params, "q")
        if not q:
            raise InvalidData(_("q is required."), fields={"q": [_("Words to search for.")]})
        page = message_search_for_operator(user=request.user, q=q, before=int_param(params, "before"),
                                           limit=limit_param(params, default=20))
        next_url = None
        if page.next_before is not None:
            query = params.copy()
            query["before"] = str(page.next_before)
            next_url = f"{request.path}?{query.urlencode()}"
        return Response({"results": page.rows, "next": next_url, "next_before": page.next_before})
