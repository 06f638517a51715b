"""The data model of DESIGN.md §4. Models hold data and constraints; rules live in services."""
from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


def new_website_token() -> str:
    return secrets.token_urlsafe(24)


def new_pubsub_token() -> str:
    return secrets.token_urlsafe(32)


def new_hmac_secret() -> str:
    return secrets.token_hex(32)


class Branch(models.Model):
    name = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False)
    # Per-branch counter behind Conversation.display_id (incremented under a row lock).
    last_display_id = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "branches"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_branch"),
        ]

    def __str__(self) -> str:
        return self.name


class ChannelType(models.TextChoices):
    WEB_WIDGET = "web_widget", "Web widget"
    API = "api", "API"


class AssignmentMode(models.TextChoices):
    AUTO = "auto", "Auto-assign"
    RING = "ring", "Ring (offer, accept or decline)"


class Inbox(models.Model):
    # Null: the inbox's conversations go to the default branch.
    branch = models.ForeignKey(Branch, null=True, blank=True, on_delete=models.PROTECT, related_name="inboxes")
    name = models.CharField(max_length=200)
    channel_type = models.CharField(max_length=20, choices=ChannelType.choices, default=ChannelType.WEB_WIDGET)
    website_token = models.CharField(max_length=64, unique=True, default=new_website_token)
    enable_auto_assignment = models.BooleanField(default=True)
    max_assignment_limit = models.PositiveIntegerField(null=True, blank=True)
    # Auto-assignments per operator per window (AssignmentRateLimiter); null = the setting.
    assignment_rate_limit = models.PositiveIntegerField(null=True, blank=True)
    greeting = models.TextField(blank=True, default="")
    allowed_origins = models.JSONField(default=list, blank=True)
    hmac_secret = models.CharField(max_length=128, default=new_hmac_secret)
    # What an incoming message on a resolved conversation does: reopen it, or start a new one.
    reopen_resolved_conversations = models.BooleanField(default=True)
    # --- The support desk (DESIGN.md §11, docs/desk.md) ---
    # Operators see the visitor's unsent draft under the thread (never stored).
    sneak_peek = models.BooleanField(default=False)
    # On resolve the widget asks for a 1-5 rating (CsatResponse).
    csat_survey_enabled = models.BooleanField(default=False)
    # Business hours: IANA zone; working_hours null = always within hours, else
    # {"mon": [["09:00", "17:00"]], ..., "sun": []} (a missing or empty day is closed).
    timezone = models.CharField(max_length=64, default="UTC")
    working_hours = models.JSONField(null=True, blank=True, default=None)
    out_of_office_message = models.TextField(blank=True, default="")
    # The survey's question (empty: the built-in one, in the visitor's language).
    csat_question = models.TextField(blank=True, default="")
    # Texts per language (docs/i18n.md, chat.services.inbox_texts): ``locale`` is the language of
    # the base fields above ("" = the server's), ``translations`` {"ru": {"greeting", ...}}.
    locale = models.CharField(max_length=10, blank=True, default="")
    translations = models.JSONField(default=dict, blank=True)
    # "auto" assigns; "ring" offers to one operator at a time (ConversationOffer).
    assignment_mode = models.CharField(max_length=10, choices=AssignmentMode.choices, default=AssignmentMode.AUTO)
    ring_timeout_seconds = models.PositiveIntegerField(default=30)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return self.name


class InboxMember(models.Model):
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["inbox", "user"], name="unique_inbox_member")]

    def __str__(self) -> str:
        return f"{self.user} in {self.inbox}"


class Role(models.TextChoices):
    AGENT = "agent", "Agent"
    SUPERVISOR = "supervisor", "Supervisor"
    ADMINISTRATOR = "administrator", "Administrator"


class Availability(models.TextChoices):
    ONLINE = "online", "Online"
    BUSY = "busy", "Busy"
    OFFLINE = "offline", "Offline"


class OperatorProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_profile")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField(max_length=200, blank=True, default="")
    # What the operator chose; being online also needs a connected socket (presence/).
    availability = models.CharField(max_length=10, choices=Availability.choices, default=Availability.ONLINE)
    branches = models.ManyToManyField(Branch, blank=True, related_name="operators")
    # The language the operator reads ("en", "ru": settings.LANGUAGES); empty until their first
    # login fills it from the browser (chat.i18n, chat.services.agents.operator_locale_on_login).
    locale = models.CharField(max_length=10, blank=True, default="")

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()


class Contact(models.Model):
    name = models.CharField(max_length=255, blank=True, default="")
    email = models.EmailField(max_length=254, blank=True, null=True)
    # E.164, normalized by chat.services.contacts.normalize_phone.
    phone = models.CharField(max_length=20, blank=True, null=True)
    identifier = models.CharField(max_length=255, blank=True, null=True, unique=True)
    blocked = models.BooleanField(default=False)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    additional_attributes = models.JSONField(default=dict, blank=True)
    custom_attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["email"]), models.Index(fields=["phone"])]

    @property
    def display_name(self) -> str:
        """How a contact is named everywhere (panel, widget transcripts, admin): their name,
        else their email, else "Visitor <id>" (docs/desk.md, "Panel and widget details")."""
        return self.name or self.email or f"Visitor {self.pk}"

    def __str__(self) -> str:
        return self.display_name


class ContactInbox(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="contact_inboxes")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="contact_inboxes")
    source_id = models.CharField(max_length=255)
    pubsub_token = models.CharField(max_length=64, unique=True, default=new_pubsub_token)
    # The visitor's language as their widget last told the sessions endpoint ("" = unknown):
    # texts the server sends them when no request of theirs is at hand (the survey).
    locale = models.CharField(max_length=10, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "contact inboxes"
        constraints = [models.UniqueConstraint(fields=["inbox", "source_id"], name="unique_inbox_source_id")]

    def __str__(self) -> str:
        return f"{self.contact} @ {self.inbox}"


class Label(models.Model):
    """A tag on conversations; ``name`` is lower-cased on input (services) and unique."""

    name = models.CharField(max_length=50, unique=True)
    color = models.CharField(max_length=7, default="#1f93ff")
    description = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"
    SNOOZED = "snoozed", "Snoozed"


class Priority(models.TextChoices):
    NONE = "none", "None"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Conversation(models.Model):
    display_id = models.PositiveIntegerField()
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="conversations")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="conversations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    contact_inbox = models.ForeignKey(ContactInbox, on_delete=models.CASCADE, related_name="conversations")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_conversations"
    )
    status = models.CharField(max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.OPEN)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NONE)
    identifier = models.CharField(max_length=255, blank=True, null=True)
    last_activity_at = models.DateTimeField(db_default=Now())
    waiting_since = models.DateTimeField(null=True, blank=True)
    first_reply_created_at = models.DateTimeField(null=True, blank=True)
    contact_last_seen_at = models.DateTimeField(null=True, blank=True)
    agent_last_seen_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    additional_attributes = models.JSONField(default=dict, blank=True)
    custom_attributes = models.JSONField(default=dict, blank=True)
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    created_at = models.DateTimeField(db_default=Now())
    # When the conversation was last resolved; set with the status (resolved) and cleared with it
    # (any other status) by the status owner (chat.services.conversations.status_columns). Reports
    # read resolutions from it (docs/reports.md).
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["branch", "display_id"], name="unique_branch_display_id"),
        ]
        indexes = [
            models.Index(fields=["inbox", "status", "assignee"], name="conv_inbox_status_assignee"),
            models.Index(fields=["status", "priority"], name="conv_status_priority"),
            models.Index(fields=["branch", "status", "assignee"], name="conv_branch_status_assignee"),
            models.Index(fields=["contact", "inbox", "status"], name="conv_contact_inbox_status"),
            models.Index(fields=["-last_activity_at", "-id"], name="conv_last_activity"),
            models.Index(fields=["inbox", "-last_activity_at", "-id"], name="conv_inbox_last_activity"),
            models.Index(fields=["status", "snoozed_until"], name="conv_status_snoozed_until"),
            # Reports (docs/reports.md): windows over creation and resolution times, covering
            # what the report aggregates read (index-only scans on PostgreSQL).
            models.Index(fields=["created_at"], include=["inbox", "assignee", "first_reply_created_at"],
                         name="conv_created_at"),
            models.Index(fields=["inbox", "created_at"], include=["assignee", "first_reply_created_at"],
                         name="conv_inbox_created_at"),
            models.Index(fields=["resolved_at"], include=["inbox", "assignee", "created_at"], name="conv_resolved_at",
                         condition=Q(resolved_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"#{self.display_id} ({self.status})"


class MessageDirection(models.TextChoices):
    INCOMING = "incoming", "Incoming"
    OUTGOING = "outgoing", "Outgoing"
    ACTIVITY = "activity", "Activity"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=10, choices=MessageDirection.choices)
    private = models.BooleanField(default=False)
    sender_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="sent_messages"
    )
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sent_messages"
    )
    content = models.TextField(blank=True, default="", validators=[MaxLengthValidator(150_000)])
    processed_message_content = models.TextField(blank=True, default="")
    content_type = models.CharField(max_length=32, default="text")
    content_attributes = models.JSONField(default=dict, blank=True)
    external_source_ids = models.JSONField(default=dict, blank=True)
    source_id = models.CharField(max_length=255, null=True, blank=True)
    echo_id = models.CharField(max_length=100, null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "source_id"], condition=Q(source_id__isnull=False), name="unique_message_source_id"
            ),
        ]
        indexes = [
            models.Index(fields=["sender_contact", "direction", "created_at"], name="msg_contact_direction_created"),
            models.Index(fields=["sender_user", "direction", "created_at"], name="msg_user_direction_created"),
            models.Index(fields=["conversation", "id"], name="msg_conversation_id"),
            models.Index(fields=["conversation", "echo_id"], name="msg_conversation_echo_id"),
            # Reports (docs/reports.md): messages of a window, covering the counted columns.
            models.Index(fields=["created_at"], include=["direction", "private", "sender_user", "conversation"],
                         name="msg_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} #{self.pk}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="attachments/%Y/%m/")
    file_type = models.CharField(max_length=100, default="file")
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.file.name or ""


class Audience(models.TextChoices):
    OPERATORS = "operators", "Operators"
    EVERYONE = "everyone", "Everyone"


class Event(models.Model):
    """Outbox row: written in the transaction of the change, streamed after commit (docs/realtime.md)."""

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=40)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Which widget may see it (the conversation's visitor); null with audience=everyone: every
    # widget of the inbox (e.g. operator availability).
    contact_inbox = models.ForeignKey(ContactInbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Only one operator (personal events); null = every operator of the inbox.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.OPERATORS)
    payload = models.JSONField(default=dict)
    # On PostgreSQL the row's system column ``xmin`` says until when the stream holds it back
    # (chat/outbox.py, docs/realtime.md "late commits"): it is written by chat_event_insert().
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["inbox", "id"], name="event_inbox_id"),
            models.Index(fields=["contact_inbox", "id"], name="event_contact_inbox_id"),
            models.Index(fields=["created_at"], name="event_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


# --- The support desk (DESIGN.md §11, docs/desk.md) -------------------------------------------------


class CannedResponse(models.Model):
    """A saved reply, global (``inbox`` null) or for one inbox; ``short_code`` is unique within its
    scope, and an inbox's response wins over a global one with the same code in the picker."""

    short_code = models.CharField(max_length=100)
    content = models.TextField(validators=[MaxLengthValidator(10_000)])
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="canned_responses")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["short_code", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["short_code"], condition=Q(inbox__isnull=True), name="unique_global_canned_short_code"
            ),
            models.UniqueConstraint(
                fields=["inbox", "short_code"], condition=Q(inbox__isnull=False), name="unique_inbox_canned_short_code"
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.short_code}"


class CsatResponse(models.Model):
    """The visitor's satisfaction answer, one per conversation (a repeat within 24 h replaces it)."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="csat_response")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="csat_responses")
    # The assignee when the visitor answered: reports credit the agent who handled it.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="csat_responses"
    )
    rating = models.PositiveSmallIntegerField()
    feedback = models.TextField(blank=True, default="", validators=[MaxLengthValidator(2_000)])
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1) & Q(rating__lte=5), name="csat_rating_1_to_5"),
        ]
        indexes = [models.Index(fields=["created_at"], name="csat_created_at")]

    def __str__(self) -> str:
        return f"CSAT {self.rating}"


# --- Webhooks (DESIGN.md §12, docs/webhooks.md) ---------------------------------------------------


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


class Webhook(models.Model):
    """An outgoing subscription: outbox events of ``subscriptions`` (event types), of one inbox or
    all (``inbox`` null), POSTed to ``url`` signed with ``secret``. Rules: chat/services/webhooks.py."""

    url = models.CharField(max_length=2048)
    secret = models.CharField(max_length=128, default=new_webhook_secret)
    subscriptions = models.JSONField(default=list)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One (webhook, event): the body as first built (byte-identical on every retry, and
    independent of the outbox's pruning), and the state of its attempts. ``next_attempt_at`` is
    also the lease of an attempt in flight (docs/webhooks.md, "Delivery loop")."""

    id = models.BigAutoField(primary_key=True)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.BigIntegerField()
    event_type = models.CharField(max_length=40)
    body = models.TextField()
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    # Attempts started (a claim counts one, so a crash between send and record counts too).
    attempts = models.PositiveIntegerField(default=0)
    # Attempts whose outcome was recorded; 0 = never tried to the end (blocks later events).
    outcomes = models.PositiveIntegerField(default=0)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-event_id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_id"], name="unique_webhook_delivery"),
        ]
        indexes = [
            # The loop's "what is due" scan, pending rows only.
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="whdelivery_due"),
            # Per webhook, the oldest pending first (claims and the ordering check).
            models.Index(fields=["webhook", "event_id"], condition=Q(state="pending"), name="whdelivery_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.event_id} → webhook {self.webhook_id}"


class WebhookCursor(models.Model):
    """The fan-out's position in the outbox (one row, id 1): every released event at or below
    ``last_event_id`` has its deliveries."""

    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


# --- Ring mode (DESIGN.md §11, docs/assignment.md "Ring mode") -------------------------------------


class OfferState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ConversationOffer(models.Model):
    """One ring: a conversation offered to one operator until ``expires_at``
    (assignment/offers.py owns every transition; each one runs under the conversation's row
    lock and is a conditional ``UPDATE ... WHERE state = 'pending'``)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="offers")
    # The conversation's inbox (conversations never move): capacity counts and withdrawals per
    # inbox read it without a join.
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversation_offers")
    # Offers of one round skip the operators who declined or let it expire in that round.
    round = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=10, choices=OfferState.choices, default=OfferState.PENDING)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"], condition=Q(state="pending"), name="one_pending_offer_per_conversation"
            ),
        ]
        indexes = [
            # The worker's "what is due" scan.
            models.Index(fields=["expires_at"], condition=Q(state="pending"), name="offer_pending_due"),
            # Capacity counts and "my pending offers".
            models.Index(fields=["user", "inbox"], condition=Q(state="pending"), name="offer_pending_user"),
            # A conversation's offers, newest first (the round, the caller's latest offer).
            models.Index(fields=["conversation", "user", "id"], name="offer_conversation_user"),
        ]

    def __str__(self) -> str:
        return f"offer of {self.conversation_id} to {self.user_id} ({self.state})"
