"""Webhooks (administrators only, DESIGN.md §12): thin adapters over chat/services/webhooks.py."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chat.api import serializers as s
from chat.api.pagination import int_param, limit_param
from chat.api.security import IsAdministrator
from chat.models import Webhook
from chat.services import webhooks as webhook_services

ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer, 404: s.ErrorSerializer}
_FIELDS = {"url": "url", "subscriptions": "subscriptions", "inbox": "inbox_id", "active": "active", "secret": "secret"}


def _arguments(data: dict[str, Any]) -> dict[str, Any]:
    return {_FIELDS[name]: value for name, value in data.items() if name in _FIELDS}


class WebhookViewSet(viewsets.GenericViewSet):
    permission_classes = [IsAdministrator]
    # Read only by the schema generator (the id's type); the services load the rows.
    queryset = Webhook.objects.none()
    lookup_value_regex = r"\d+"
    pagination_class = None

    @extend_schema(summary="Webhooks (without their secrets)", tags=["webhooks"],
                   responses={200: s.WebhookSerializer(many=True), **ERRORS})
    def list(self, request: Request) -> Response:
        return Response(s.WebhookSerializer(webhook_services.webhook_list(), many=True).data)

    @extend_schema(summary="Create a webhook (the answer includes the secret, generated when not given)",
                   tags=["webhooks"], request=s.WebhookCreateInput, responses={201: s.WebhookWithSecretSerializer, **ERRORS})
    def create(self, request: Request) -> Response:
        data = s.validated(s.WebhookCreateInput, request.data)
        webhook = webhook_services.webhook_create(**_arguments(data))
        return Response(s.WebhookWithSecretSerializer(webhook).data, status=201)

    @extend_schema(summary="One webhook", tags=["webhooks"], responses={200: s.WebhookSerializer, **ERRORS})
    def retrieve(self, request: Request, pk: Any = None) -> Response:
        return Response(s.WebhookSerializer(webhook_services.webhook_get(webhook_id=int(pk))).data)

    @extend_schema(summary="Change a webhook (url, subscriptions, inbox, active, secret)", tags=["webhooks"],
                   request=s.WebhookUpdateInput, responses={200: s.WebhookSerializer, **ERRORS})
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        data = s.validated(s.WebhookUpdateInput, request.data, partial=True)
        webhook = webhook_services.webhook_update(webhook_id=int(pk), **_arguments(data))
        return Response(s.WebhookSerializer(webhook).data)

    @extend_schema(summary="Delete a webhook and its deliveries log", tags=["webhooks"],
                   responses={204: None, **ERRORS})
    def destroy(self, request: Request, pk: Any = None) -> Response:
        webhook_services.webhook_delete(webhook_id=int(pk))
        return Response(status=204)

    @extend_schema(summary="The deliveries log, newest event first", tags=["webhooks"],
                   parameters=[OpenApiParameter("before", int, description="An event id: older deliveries."),
                               OpenApiParameter("limit", int)],
                   responses={200: s.WebhookDeliveryPageSerializer, **ERRORS})
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: Any = None) -> Response:
        page = webhook_services.webhook_deliveries(
            webhook_id=int(pk), before=int_param(request.query_params, "before"),
            limit=limit_param(request.query_params),
        )
        return Response({"results": s.WebhookDeliverySerializer(page.results, many=True).data, "next": page.next})

    @extend_schema(summary="Send a webhook.test event now and answer with the outcome", tags=["webhooks"],
                   request=None, responses={200: s.WebhookTestResultSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: Any = None) -> Response:
        return Response(webhook_services.webhook_send_test(webhook_id=int(pk)))
