"""Ring mode over REST (docs/assignment.md "Ring mode"): the operator's pending offers, and
accept / decline for a panel without its socket (the socket commands are the contract; these
call the same services in assignment/offers.py)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assignment.offers import offer_accept, offer_decline, offers_pending_for, server_time
from chat.api import serializers as s
from chat.api.conversation_views import ERRORS, conversation_detail
from chat.api.security import IsOperator
from chat.models import OfferState
from chat.selectors.conversations import conversation_check_visible


class OfferSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    timeout_seconds = serializers.IntegerField()
    display_id = serializers.IntegerField()
    inbox = serializers.IntegerField()
    contact = s.ContactSummarySerializer()


class OfferListSerializer(serializers.Serializer):
    results = OfferSerializer(many=True)
    now = serializers.DateTimeField(help_text="The server's clock: clients count down to expires_at from it.")


class DeclineOutput(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=OfferState.values, help_text="The offer's state after the decline.")


class OfferListView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: OfferListSerializer, **ERRORS}, tags=["conversations"],
                   summary="The caller's pending offers (ring mode), soonest to expire first")
    def get(self, request: Request) -> Response:
        return Response({"results": offers_pending_for(actor=request.user), "now": server_time()})


class AcceptView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses={200: s.ConversationDetailSerializer, 409: s.ErrorSerializer, **ERRORS},
                   tags=["conversations"], summary="Accept the conversation offered to the caller (ring mode)")
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation_check_visible(user=request.user, conversation_id=conversation_id)
        offer_accept(conversation_id=conversation_id, actor=request.user)
        return Response(conversation_detail(request.user, conversation_id))


class DeclineView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses={200: DeclineOutput, 409: s.ErrorSerializer, **ERRORS},
                   tags=["conversations"], summary="Decline the conversation offered to the caller (ring mode)")
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation_check_visible(user=request.user, conversation_id=conversation_id)
        state = offer_decline(conversation_id=conversation_id, actor=request.user)
        return Response({"conversation_id": conversation_id, "state": state})
