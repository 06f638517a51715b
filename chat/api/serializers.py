"""Request and response shapes of the REST API.

Input serializers validate requests; output serializers document responses (the bodies
themselves come from chat.payloads, so REST and sockets send identical shapes).
"""
from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chat.models import (
    AssignmentMode,
    Availability,
    Branch,
    ChannelType,
    ConversationStatus,
    Inbox,
    MessageDirection,
    Priority,
    Role,
)
from chat.services.inboxes import RING_TIMEOUT_MAX_SECONDS, RING_TIMEOUT_MIN_SECONDS

# --- Errors -----------------------------------------------------------------------------------


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A chat.errors.ErrorCode value, the same as the socket replies.")
    message = serializers.CharField()
    # The metaclass moves declared fields out of the class namespace, so this does not shadow
    # Serializer.fields at runtime; the stubs cannot see that.
    fields = serializers.DictField(required=False, child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


# --- Common objects ---------------------------------------------------------------------------


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    username = serializers.CharField()


class ContactSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    display_name = serializers.CharField(help_text='The name to show: name, else email, else "Visitor <id>".')
    email = serializers.EmailField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    identifier = serializers.CharField(allow_null=True)
    blocked = serializers.BooleanField()


class SenderSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["contact", "user"])
    id = serializers.IntegerField()
    name = serializers.CharField()
    username = serializers.CharField(required=False)


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    file_type = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.CharField(allow_null=True)
    name = serializers.CharField(help_text="The stored file name (for a download link).")


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    content = serializers.CharField(allow_blank=True)
    content_type = serializers.CharField()
    content_attributes = serializers.DictField()
    direction = serializers.ChoiceField(choices=MessageDirection.values)
    private = serializers.BooleanField()
    echo_id = serializers.CharField(allow_null=True)
    source_id = serializers.CharField(allow_null=True)
    sender = SenderSerializer(allow_null=True)
    attachments = AttachmentSerializer(many=True)
    created_at = serializers.DateTimeField()


class LastMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    content = serializers.CharField(allow_blank=True, help_text="The first 500 characters.")
    created_at = serializers.DateTimeField()
    direction = serializers.ChoiceField(choices=[MessageDirection.INCOMING, MessageDirection.OUTGOING])
    private = serializers.BooleanField(help_text="A private note (operators only).")
    deleted = serializers.BooleanField(help_text="Deleted (content blank): show \"This message was deleted\".")


class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ConversationStatus.values)
    priority = serializers.ChoiceField(choices=Priority.values)
    assignee = UserSummarySerializer(allow_null=True)
    inbox = serializers.IntegerField()
    branch = serializers.IntegerField()
    contact = ContactSummarySerializer()
    contact_inbox = serializers.IntegerField()
    identifier = serializers.CharField(allow_null=True)
    waiting_since = serializers.DateTimeField(allow_null=True)
    first_reply_created_at = serializers.DateTimeField(allow_null=True)
    last_activity_at = serializers.DateTimeField()
    contact_last_seen_at = serializers.DateTimeField(allow_null=True)
    agent_last_seen_at = serializers.DateTimeField(allow_null=True)
    snoozed_until = serializers.DateTimeField(allow_null=True)
    additional_attributes = serializers.DictField()
    custom_attributes = serializers.DictField()
    created_at = serializers.DateTimeField()
    labels = serializers.ListField(child=serializers.CharField(), help_text="Label names, sorted.")
    unread_count = serializers.IntegerField(help_text="Incoming messages newer than agent_last_seen_at.")
    last_message = LastMessageSerializer(allow_null=True, help_text="Newest non-activity message, notes included.")


class CsatSummarySerializer(serializers.Serializer):
    rating = serializers.IntegerField()
    feedback = serializers.CharField(allow_blank=True)


class ConversationDetailSerializer(ConversationSerializer):
    last_event_id = serializers.IntegerField(help_text="Resume the event stream after this id.")
    csat = CsatSummarySerializer(allow_null=True, help_text="The visitor's satisfaction answer, if any.")


class ConversationPageSerializer(serializers.Serializer):
    results = ConversationSerializer(many=True)
    next = serializers.CharField(
        allow_null=True, help_text="URL (path and query) of the next page, with an opaque cursor; null at the end."
    )
    last_event_id = serializers.IntegerField()


class ConversationCountsSerializer(serializers.Serializer):
    mine = serializers.IntegerField()
    unassigned = serializers.IntegerField()
    all = serializers.IntegerField()


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True, help_text="Newest first.")
    next = serializers.IntegerField(allow_null=True, help_text="Pass as ?before= for the next (older) page.")
    last_event_id = serializers.IntegerField()


# --- Conversation input -----------------------------------------------------------------------


class ConversationUpdateInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=ConversationStatus.values, required=False)
    snoozed_until = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="In the future. Omitted or null with status snoozed: until the contact's next message.")
    priority = serializers.ChoiceField(choices=Priority.values, required=False)
    custom_attributes = serializers.DictField(required=False)


class AssignInput(serializers.Serializer):
    assignee_id = serializers.IntegerField(allow_null=True)


class ToggleStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=ConversationStatus.values, required=False)
    snoozed_until = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="In the future. Omitted or null with status snoozed: until the contact's next message.")


class TogglePriorityInput(serializers.Serializer):
    priority = serializers.ChoiceField(choices=Priority.values)


class MessageCreateInput(serializers.Serializer):
    content = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False,
                                    help_text="At most 150,000 characters (content_too_long).")
    private = serializers.BooleanField(required=False, default=False)
    echo_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=100)
    source_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    attachments = serializers.ListField(child=serializers.FileField(), required=False, default=list,
                                        help_text="multipart/form-data only; at most 15.")


# --- Auth and profile -------------------------------------------------------------------------


class LoginInput(serializers.Serializer):
    username = serializers.CharField(required=False, help_text="Username or email.")
    email = serializers.CharField(required=False)
    password = serializers.CharField(style={"input_type": "password"})


class LoginUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.values)


class LoginOutput(serializers.Serializer):
    token = serializers.CharField()
    user = LoginUserSerializer()


class ProfileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    display_name = serializers.CharField(allow_blank=True)
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.values)
    availability = serializers.ChoiceField(choices=Availability.values)
    inbox_ids = serializers.ListField(child=serializers.IntegerField())
    locale = serializers.CharField(help_text="The language the operator reads (en, ru); the panel and "
                                             "the API's messages follow it.")


class ProfileUpdateInput(serializers.Serializer):
    display_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    availability = serializers.ChoiceField(choices=Availability.values, required=False)
    locale = serializers.CharField(required=False, max_length=35, help_text="en or ru (settings.LANGUAGES).")


# --- Administration ---------------------------------------------------------------------------


class BranchSerializer(serializers.ModelSerializer):
    # The service moves the default flag; the model's "one default" constraint is not an input rule.
    is_default = serializers.BooleanField(required=False, default=False)

    class Meta:
        model = Branch
        fields = ["id", "name", "is_default"]
        validators: list = []


@extend_schema_field({"type": "object", "deprecated": True, "properties": {
    "timezone": {"type": "string"}, "days": {"type": "object", "additionalProperties": True}}})
class LegacyBusinessHoursField(serializers.Field):
    """Deprecated alias of ``timezone`` + ``working_hours`` (the first release's unused
    ``business_hours`` column is gone, docs/desk.md): reads ``{"timezone", "days"}``; a write of
    ``{"timezone"?, "days"?}`` sets those fields (no or empty ``days``: always open)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", **kwargs)

    def to_representation(self, value: Any) -> dict[str, Any]:
        return {"timezone": value.timezone, "days": value.working_hours or {}}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError(_("An object {\"timezone\", \"days\"}."))
        return {"business_hours": data}


_INBOX_TEXT = {"type": "string"}


@extend_schema_field({
    "type": "object",
    "description": "Texts per language: {language: {greeting?, out_of_office_message?, csat_question?}}. "
                   "Languages of settings.LANGUAGES (en, ru); greeting and out_of_office_message at most "
                   "10,000 characters, csat_question 1,000; blank texts are dropped. Anything else: 400 "
                   "invalid_data with fields.translations. The widget picks per visitor: their language, then "
                   "the inbox's locale, then the base field (docs/i18n.md).",
    "additionalProperties": {"type": "object", "additionalProperties": False, "properties": {
        "greeting": _INBOX_TEXT, "out_of_office_message": _INBOX_TEXT, "csat_question": _INBOX_TEXT}},
    "example": {"ru": {"greeting": "Здравствуйте! Чем можем помочь?"}},
})
class InboxTranslationsField(serializers.JSONField):
    """``Inbox.translations``: validated by the service (chat.services.inbox_texts)."""


class InboxSerializer(serializers.ModelSerializer):
    branch = serializers.PrimaryKeyRelatedField(queryset=Branch.objects.all(), allow_null=True, required=False)
    allowed_origins = serializers.ListField(child=serializers.CharField(), required=False)
    business_hours = LegacyBusinessHoursField(required=False, help_text="Deprecated: use timezone and working_hours.")
    channel_type = serializers.ChoiceField(choices=ChannelType.values, required=False)
    timezone = serializers.CharField(required=False, max_length=64, help_text="IANA time zone of working_hours.")
    working_hours = serializers.JSONField(
        required=False, allow_null=True,
        help_text='null = always within hours; else {"mon": [["09:00", "17:00"]], ..., "sun": []} (missing day: closed).',
    )
    # Ring mode (docs/assignment.md): the bounds are the service's (chat/services/inboxes.py).
    assignment_mode = serializers.ChoiceField(choices=AssignmentMode.values, required=False)
    ring_timeout_seconds = serializers.IntegerField(
        min_value=RING_TIMEOUT_MIN_SECONDS, max_value=RING_TIMEOUT_MAX_SECONDS, required=False
    )
    # Texts per language (docs/i18n.md): checked by the service, which names what is wrong.
    locale = serializers.CharField(
        required=False, allow_blank=True, max_length=35,
        help_text='The language the base texts are written in (en, ru; "" = the server\'s LANGUAGE_CODE): '
                  "what a visitor whose language has no translation reads.",
    )
    csat_question = serializers.CharField(
        required=False, allow_blank=True,
        help_text="The satisfaction survey's question (empty: the built-in one, in the visitor's language).",
    )
    translations = InboxTranslationsField(required=False)

    class Meta:
        model = Inbox
        fields = [
            "id", "name", "branch", "channel_type", "website_token", "enable_auto_assignment",
            "max_assignment_limit", "assignment_rate_limit", "greeting", "business_hours",
            "allowed_origins", "reopen_resolved_conversations", "created_at",
            "csat_survey_enabled", "timezone", "working_hours", "out_of_office_message",
            "assignment_mode", "ring_timeout_seconds",
            "sneak_peek", "csat_question", "locale", "translations",
        ]
        read_only_fields = ["id", "website_token", "created_at"]


class InboxWithSecretSerializer(InboxSerializer):
    """On create and on secret rotation only: the identity-verification secret."""

    class Meta(InboxSerializer.Meta):
        fields = [*InboxSerializer.Meta.fields, "hmac_secret"]
        read_only_fields = [*InboxSerializer.Meta.read_only_fields, "hmac_secret"]


class MembersInput(serializers.Serializer):
    user_ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=True)


class MembersOutput(serializers.Serializer):
    user_ids = serializers.ListField(child=serializers.IntegerField())


class AgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    name = serializers.CharField()
    display_name = serializers.CharField(allow_blank=True)
    role = serializers.ChoiceField(choices=Role.values)
    availability = serializers.ChoiceField(choices=Availability.values)
    is_active = serializers.BooleanField()


class AgentCreateInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(style={"input_type": "password"})
    email = serializers.CharField(required=False, allow_blank=True, default="")
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    role = serializers.ChoiceField(choices=Role.values, required=False, default=Role.AGENT)


class AgentUpdateInput(serializers.Serializer):
    email = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    role = serializers.ChoiceField(choices=Role.values, required=False)
    password = serializers.CharField(required=False, style={"input_type": "password"})
    is_active = serializers.BooleanField(required=False)


# --- Contacts ---------------------------------------------------------------------------------


class ContactInboxSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    inbox = serializers.IntegerField()
    source_id = serializers.CharField()


class ContactSerializer(ContactSummarySerializer):
    last_activity_at = serializers.DateTimeField(allow_null=True)
    additional_attributes = serializers.DictField()
    custom_attributes = serializers.DictField()
    created_at = serializers.DateTimeField()
    contact_inboxes = ContactInboxSummarySerializer(many=True)


class ContactPageSerializer(serializers.Serializer):
    results = ContactSerializer(many=True)
    next = serializers.IntegerField(allow_null=True, help_text="Pass as ?before= for the next page.")


class ContactUpdateInput(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    email = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    phone = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    custom_attributes = serializers.DictField(required=False)
    additional_attributes = serializers.DictField(required=False)


# --- Widget -----------------------------------------------------------------------------------


class WidgetSessionInput(serializers.Serializer):
    website_token = serializers.CharField()
    source_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=255)
    identifier = serializers.CharField(required=False, allow_null=True, max_length=255)
    identifier_hash = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=128)
    name = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=255)
    email = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=40)
    custom_attributes = serializers.DictField(required=False, allow_null=True,
                                              help_text="Merged into the contact's custom attributes.")
    locale = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=35,
                                   help_text="The widget's language (en, ru; else Accept-Language) for messages and "
                                             "the inbox's texts; remembered for those the server sends later.")


class WidgetContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)


class WidgetContactInboxSerializer(serializers.Serializer):
    source_id = serializers.CharField()
    pubsub_token = serializers.CharField()


class WidgetAssigneeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class WidgetConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ConversationStatus.values)
    inbox = serializers.IntegerField()
    last_activity_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    agent_last_seen_at = serializers.DateTimeField(allow_null=True)
    assignee = WidgetAssigneeSerializer(allow_null=True)


class WidgetInboxSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    greeting = serializers.CharField(allow_blank=True, help_text="In the visitor's language (docs/i18n.md).")
    locale = serializers.CharField(allow_blank=True, help_text="The inbox's default language (\"\" = the server's).")
    sneak_peek = serializers.BooleanField(help_text="The composer sends its unsent text with typing.")


class QueueStatusSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    position = serializers.IntegerField(allow_null=True, help_text="1 = next in line; null: not waiting in line.")
    expected_wait_seconds = serializers.IntegerField(allow_null=True, help_text="Rough estimate; null without data.")


class WidgetSessionOutput(serializers.Serializer):
    contact = WidgetContactSerializer()
    contact_inbox = WidgetContactInboxSerializer()
    conversation = WidgetConversationSerializer(allow_null=True)
    inbox = WidgetInboxSerializer()
    online = serializers.BooleanField(help_text="Within business hours and at least one operator available.")
    next_open_at = serializers.DateTimeField(allow_null=True, help_text="When the hours start again; null within hours.")
    queue = QueueStatusSerializer(allow_null=True, help_text="The current conversation's place in line, if waiting.")


class WidgetCsatInput(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    rating = serializers.IntegerField(min_value=1, max_value=5)
    feedback = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2_000,
                                     trim_whitespace=False)


class WidgetCsatOutput(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    rating = serializers.IntegerField()
    feedback = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WidgetContactInput(serializers.Serializer):
    email = serializers.CharField(max_length=254, help_text="Validated and normalized (400 invalid_data if not an email).")
    name = serializers.CharField(required=False, allow_blank=True, max_length=255, trim_whitespace=True)


class WidgetContactOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    email = serializers.CharField(allow_null=True)


class WidgetMessageInput(serializers.Serializer):
    content = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False,
                                    help_text="At most 150,000 characters (content_too_long).")
    echo_id = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=100)
    attachments = serializers.ListField(child=serializers.FileField(), required=False, default=list,
                                        help_text="multipart/form-data only; at most 15.")


class WidgetTypingInput(serializers.Serializer):
    typing = serializers.BooleanField()
    draft = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                  help_text="The unsent text (sneak peek); longer than 1,000 characters is cut.")


def validated(serializer_class: type[serializers.Serializer], data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate ``data`` (DRF ValidationError → the JSON error shape, code invalid_data)."""
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- Transcripts (chat/api/transcripts.py) ----------------------------------------------------


class TranscriptSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    display_id = serializers.IntegerField()
    generated_at = serializers.DateTimeField()
    messages = MessageSerializer(many=True, help_text="Oldest first.")
    next = serializers.IntegerField(allow_null=True, help_text="Pass as ?after= for the rest of a long conversation.")


# --- Search (chat/api/search_views.py) --------------------------------------------------------


class SearchContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    display_name = serializers.CharField()
    email = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)


class SearchConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_id = serializers.IntegerField()
    inbox = serializers.IntegerField()
    status = serializers.CharField()
    contact = SearchContactSerializer()


class MessageHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    direction = serializers.CharField(help_text="incoming or outgoing (activity lines are never hits).")
    private = serializers.BooleanField()
    sender = SenderSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    snippet = serializers.CharField(help_text=(
        "The matching passage, HTML-escaped; the only markup is <mark>…</mark> around the hits."))
    conversation = SearchConversationSerializer()


class MessageSearchPageSerializer(serializers.Serializer):
    results = MessageHitSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="The next (older) page's URL path, or null.")
    next_before = serializers.IntegerField(allow_null=True)
# --- Webhooks (docs/webhooks.md) ------------------------------------------------------------------


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    url = serializers.CharField(max_length=2048)
    subscriptions = serializers.ListField(
        child=serializers.CharField(max_length=60), allow_empty=False, max_length=50,
        help_text="Durable event types (DESIGN.md §7), at least one.",
    )
    inbox = serializers.IntegerField(allow_null=True, required=False, default=None,
                                     help_text="Only this inbox's events; null: every inbox.")
    active = serializers.BooleanField(required=False, default=True)
    created_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {"id": instance.id, "url": instance.url, "subscriptions": list(instance.subscriptions),
                "inbox": instance.inbox_id, "active": instance.active,
                "created_at": serializers.DateTimeField().to_representation(instance.created_at)}


class WebhookCreateInput(WebhookSerializer):
    secret = serializers.CharField(required=False, allow_blank=True, max_length=128, write_only=True,
                                   help_text="Generated when not given.")


class WebhookUpdateInput(WebhookCreateInput):
    url = serializers.CharField(max_length=2048, required=False)
    subscriptions = serializers.ListField(child=serializers.CharField(max_length=60), allow_empty=False,
                                          max_length=50, required=False)
    inbox = serializers.IntegerField(allow_null=True, required=False)
    active = serializers.BooleanField(required=False)
    secret = serializers.CharField(required=False, max_length=128, write_only=True,
                                   help_text="A new signing secret (16 to 128 characters).")


class WebhookWithSecretSerializer(WebhookSerializer):
    """On create only: the signing secret."""

    secret = serializers.CharField(read_only=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {**super().to_representation(instance), "secret": instance.secret}


class WebhookDeliverySerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    event = serializers.CharField(source="event_type")
    state = serializers.ChoiceField(choices=["pending", "delivered", "failed"])
    attempts = serializers.IntegerField()
    last_status = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)


class WebhookDeliveryPageSerializer(serializers.Serializer):
    results = WebhookDeliverySerializer(many=True)
    next = serializers.IntegerField(allow_null=True, help_text="Pass as ?before= for older deliveries.")


class WebhookTestResultSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    duration_ms = serializers.IntegerField()
    delivery = serializers.CharField(help_text="The X-Messenger-Delivery header sent (test-…).")
