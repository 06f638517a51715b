"""Request and response shapes of canned responses and labels (chat/api/catalog_views.py).

Inputs only check types here; the rules (lengths, characters, uniqueness) are the services'
(chat/services/canned_responses.py, chat/services/labels.py), so REST and Django admin agree.
"""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from chat.models import CannedResponse, Label


class CannedResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    short_code = serializers.CharField(help_text="Lower case; letters, digits, '-', '_', '.'; typed after '/'.")
    content = serializers.CharField()
    inbox = serializers.IntegerField(source="inbox_id", allow_null=True, help_text="null: every inbox.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CannedResponsePageSerializer(serializers.Serializer):
    results = CannedResponseSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="The next page's path, or null.")


class CannedResponseInput(serializers.Serializer):
    short_code = serializers.CharField(max_length=200, trim_whitespace=False)
    content = serializers.CharField(max_length=20_000, trim_whitespace=False)
    inbox = serializers.IntegerField(required=False, allow_null=True, default=None)


class CannedResponseUpdateInput(CannedResponseInput):
    inbox = serializers.IntegerField(required=False, allow_null=True)


class LabelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField(help_text="#rrggbb")
    description = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class LabelPageSerializer(serializers.Serializer):
    results = LabelSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="The next page's path, or null.")


class LabelInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, trim_whitespace=False,
                                 help_text="Trimmed and lower-cased; 1-50 letters, digits, '-', '_'.")
    color = serializers.CharField(max_length=20, required=False, help_text="#rrggbb (default #1f93ff)")
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class ConversationLabelsInput(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField(max_length=200, trim_whitespace=False),
                                   max_length=80, allow_empty=True,
                                   help_text="The whole set, by name (at most 20 distinct); [] removes all.")


def canned_response_data(response: CannedResponse) -> dict[str, Any]:
    return dict(CannedResponseSerializer(response).data)


def label_data(label: Label) -> dict[str, Any]:
    return dict(LabelSerializer(label).data)
