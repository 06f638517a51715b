"""Administration (administrators only): branches, inboxes and their members, operators."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chat.api import serializers as s
from chat.api.security import IsAdministrator
from chat.errors import NotFound
from chat.models import Branch, Inbox
from chat.payloads import user_summary
from chat.selectors.scope import operator_profile, operator_role
from chat.services import agents as agent_services
from chat.services import branches as branch_services
from chat.services import inboxes as inbox_services

User = get_user_model()
ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer, 404: s.ErrorSerializer}


class AdminViewSet(viewsets.GenericViewSet):
    permission_classes = [IsAdministrator]


@extend_schema_view(
    list=extend_schema(summary="Branches", tags=["admin"]),
    retrieve=extend_schema(summary="One branch", tags=["admin"], responses={200: s.BranchSerializer, **ERRORS}),
    create=extend_schema(summary="Create a branch", tags=["admin"], responses={201: s.BranchSerializer, **ERRORS}),
    partial_update=extend_schema(summary="Rename a branch or make it the default", tags=["admin"],
                                 responses={200: s.BranchSerializer, **ERRORS}),
    update=extend_schema(summary="Replace a branch", tags=["admin"], responses={200: s.BranchSerializer, **ERRORS}),
    destroy=extend_schema(summary="Delete a branch without inboxes or conversations", tags=["admin"],
                          responses={204: None, **ERRORS}),
)
class BranchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AdminViewSet):
    queryset = Branch.objects.order_by("id")
    serializer_class = s.BranchSerializer
    pagination_class = None

    def create(self, request: Request) -> Response:
        data = s.validated(s.BranchSerializer, request.data)
        branch = branch_services.branch_create(name=data["name"], is_default=data.get("is_default", False))
        return Response(s.BranchSerializer(branch).data, status=201)

    def update(self, request: Request, pk: Any = None, partial: bool = False) -> Response:
        branch = self.get_object()
        data = s.validated(s.BranchSerializer, request.data, partial=partial)
        branch = branch_services.branch_update(branch=branch, name=data.get("name"), is_default=data.get("is_default"))
        return Response(s.BranchSerializer(branch).data)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: Any = None) -> Response:
        branch_services.branch_delete(branch=self.get_object())
        return Response(status=204)


@extend_schema_view(
    list=extend_schema(summary="Inboxes (without their HMAC secret)", tags=["admin"]),
    retrieve=extend_schema(summary="One inbox", tags=["admin"], responses={200: s.InboxSerializer, **ERRORS}),
    create=extend_schema(summary="Create an inbox (the answer includes hmac_secret, once)", tags=["admin"],
                         request=s.InboxSerializer, responses={201: s.InboxWithSecretSerializer, **ERRORS}),
    partial_update=extend_schema(summary="Change an inbox's settings", tags=["admin"],
                                 request=s.InboxSerializer, responses={200: s.InboxSerializer, **ERRORS}),
    update=extend_schema(summary="Replace an inbox's settings", tags=["admin"],
                         request=s.InboxSerializer, responses={200: s.InboxSerializer, **ERRORS}),
    destroy=extend_schema(summary="Delete an inbox and its conversations", tags=["admin"],
                          responses={204: None, **ERRORS}),
)
class InboxViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AdminViewSet):
    queryset = Inbox.objects.order_by("id")
    serializer_class = s.InboxSerializer
    pagination_class = None

    def create(self, request: Request) -> Response:
        data = s.validated(s.InboxSerializer, request.data)
        inbox = inbox_services.inbox_create(**data)
        return Response(s.InboxWithSecretSerializer(inbox).data, status=201)

    def update(self, request: Request, pk: Any = None, partial: bool = False) -> Response:
        inbox = self.get_object()
        data = s.validated(s.InboxSerializer, request.data, partial=partial)
        inbox = inbox_services.inbox_update(inbox=inbox, **data)
        return Response(s.InboxSerializer(inbox).data)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: Any = None) -> Response:
        inbox_services.inbox_delete(inbox=self.get_object())
        return Response(status=204)

    @extend_schema(request=None, responses={200: s.InboxSerializer, **ERRORS}, tags=["admin"],
                   summary="Rotate the public website token (embeds must be updated)")
    @action(detail=True, methods=["post"])
    def rotate_token(self, request: Request, pk: Any = None) -> Response:
        inbox = inbox_services.inbox_rotate_website_token(inbox=self.get_object())
        return Response(s.InboxSerializer(inbox).data)

    @extend_schema(request=None, responses={200: s.InboxWithSecretSerializer, **ERRORS}, tags=["admin"],
                   summary="Rotate the identity-verification (HMAC) secret; the answer includes it")
    @action(detail=True, methods=["post"])
    def rotate_hmac_secret(self, request: Request, pk: Any = None) -> Response:
        inbox = inbox_services.inbox_rotate_hmac_secret(inbox=self.get_object())
        return Response(s.InboxWithSecretSerializer(inbox).data)


class InboxMemberViewSet(AdminViewSet):
    """/api/v1/inboxes/{inbox_id}/members/"""

    serializer_class = s.MembersOutput
    pagination_class = None

    def _inbox(self) -> Inbox:
        try:
            return get_object_or_404(Inbox, pk=int(self.kwargs["inbox_id"]))
        except (TypeError, ValueError):
            raise NotFound(_("Inbox not found.")) from None

    def _body(self, inbox: Inbox) -> dict[str, Any]:
        ids = inbox_services.inbox_member_ids(inbox=inbox)
        return {"user_ids": ids}

    @extend_schema(responses={200: s.MembersOutput, **ERRORS}, tags=["admin"], summary="The inbox's members")
    def list(self, request: Request, inbox_id: Any = None) -> Response:
        return Response(self._body(self._inbox()))

    @extend_schema(request=s.MembersInput, responses={200: s.MembersOutput, **ERRORS}, tags=["admin"],
                   summary="Add operators to the inbox; answers with all members")
    def create(self, request: Request, inbox_id: Any = None) -> Response:
        inbox = self._inbox()
        data = s.validated(s.MembersInput, request.data)
        change = inbox_services.inbox_members_add(inbox=inbox, user_ids=data["user_ids"])
        return Response({"user_ids": change.member_ids})

    @extend_schema(request=s.MembersInput, responses={200: s.MembersOutput, **ERRORS}, tags=["admin"],
                   summary="Make the members exactly user_ids")
    def update(self, request: Request, inbox_id: Any = None) -> Response:
        inbox = self._inbox()
        data = s.validated(s.MembersInput, request.data)
        change = inbox_services.inbox_members_set(inbox=inbox, user_ids=data["user_ids"])
        return Response({"user_ids": change.member_ids})

    @extend_schema(responses={204: None, **ERRORS}, tags=["admin"], summary="Remove an operator from the inbox")
    def destroy(self, request: Request, inbox_id: Any = None, user_id: int = 0) -> Response:
        change = inbox_services.inbox_member_remove(inbox=self._inbox(), user_id=user_id)
        if not change.removed:
            raise NotFound(_("Member not found."))
        return Response(status=204)


def agent_body(user: Any) -> dict[str, Any]:
    profile = operator_profile(user)
    return {
        "id": user.pk,
        "username": user.get_username(),
        "email": user.email,
        "name": (user_summary(user) or {}).get("name", ""),
        "display_name": profile.display_name,
        "role": operator_role(user),
        "availability": profile.availability,
        "is_active": user.is_active,
    }


class AgentViewSet(AdminViewSet):
    serializer_class = s.AgentSerializer
    pagination_class = None
    queryset = User.objects.select_related("operator_profile").order_by("id")

    @extend_schema(responses={200: s.AgentSerializer(many=True), **ERRORS}, tags=["admin"], summary="Operators")
    def list(self, request: Request) -> Response:
        return Response([agent_body(u) for u in self.get_queryset()])

    @extend_schema(responses={200: s.AgentSerializer, **ERRORS}, tags=["admin"], summary="One operator")
    def retrieve(self, request: Request, pk: Any = None) -> Response:
        return Response(agent_body(self.get_object()))

    @extend_schema(request=s.AgentCreateInput, responses={201: s.AgentSerializer, 409: s.ErrorSerializer, **ERRORS},
                   tags=["admin"], summary="Create an operator with a role")
    def create(self, request: Request) -> Response:
        data = s.validated(s.AgentCreateInput, request.data)
        user = agent_services.agent_create(**data)
        return Response(agent_body(user), status=201)

    @extend_schema(request=s.AgentUpdateInput, responses={200: s.AgentSerializer, **ERRORS}, tags=["admin"],
                   summary="Change an operator (is_active=false deactivates)")
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        user = self.get_object()
        data = s.validated(s.AgentUpdateInput, request.data, partial=True)
        user = agent_services.agent_update(user=user, **data)
        return Response(agent_body(user))

    @extend_schema(responses={204: None, **ERRORS}, tags=["admin"],
                   summary="Deactivate an operator: no login, token revoked, sockets closed (4403)")
    def destroy(self, request: Request, pk: Any = None) -> Response:
        user = self.get_object()
        if user.is_active:
            agent_services.agent_deactivate(user=user)
        return Response(status=204)
