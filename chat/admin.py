"""Django admin for every model: an adapter like the REST API.

Saves and deletes that have rules go through the same services as the API (events, activity
lines, releases, socket closes): branches, inboxes and their members, operators (role,
password, active, superuser flag), contacts (blocked). Fields whose changes need a command
(a conversation's assignee, status, priority: assignment and conversation services, which need
an acting operator's permissions) are read-only here; the panel and the API change them.
The outbox and messages are read-only.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from chat.errors import AppError
from chat.models import (
    Attachment,
    Branch,
    CannedResponse,
    Contact,
    ContactInbox,
    Conversation,
    Event,
    Inbox,
    InboxMember,
    Label,
    Message,
    OperatorProfile,
    Webhook,
    WebhookDelivery,
)
from chat.services import agents as agent_services
from chat.services import branches as branch_services
from chat.services import canned_responses as canned_services
from chat.services import contacts as contact_services
from chat.services import inboxes as inbox_services
from chat.services import labels as label_services
from chat.services import webhooks as webhook_services
from chat.services.inbox_texts import validate_inbox_locale, validate_text, validate_translations

User = get_user_model()


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "is_default", "last_display_id", "created_at")
    list_filter = ("is_default",)
    search_fields = ("name",)
    readonly_fields = ("last_display_id",)

    def save_model(self, request: Any, obj: Branch, form: Any, change: bool) -> None:
        if change:  # the service compares with the stored row (obj already holds the form's values)
            branch_services.branch_update(branch=Branch.objects.get(pk=obj.pk), name=obj.name, is_default=obj.is_default)
        else:
            created = branch_services.branch_create(name=obj.name, is_default=obj.is_default)
            obj.pk = created.pk

    def delete_model(self, request: Any, obj: Branch) -> None:
        branch_services.branch_delete(branch=obj)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for branch in queryset:
            branch_services.branch_delete(branch=branch)


class InboxMemberInline(admin.TabularInline):
    """Shown, not edited here: members change through the Inbox members admin (a service)."""

    model = InboxMember
    extra = 0
    fields = ("user", "created_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


def _service_check(check: Any, value: Any) -> Any:
    """A service validator's refusal (InvalidData) as the form field's error."""
    try:
        return check(value)
    except AppError as exc:
        messages = [str(m) for ms in (exc.fields or {}).values() for m in (ms if isinstance(ms, list) else [ms])]
        raise forms.ValidationError(messages or [str(exc.message)]) from None


class InboxForm(forms.ModelForm):
    """The inbox's texts per language (docs/i18n.md) checked by the service's own validators, so
    a refusal shows on the field."""

    locale = forms.ChoiceField(required=False, choices=[("", _("(server default)")), *settings.LANGUAGES])

    class Meta:
        model = Inbox
        fields = "__all__"
        help_texts = {
            "translations": 'Per language: {"ru": {"greeting": "…", "out_of_office_message": "…", "csat_question": "…"}}',
        }

    def clean_locale(self) -> str:
        return _service_check(validate_inbox_locale, self.cleaned_data.get("locale"))

    def clean_translations(self) -> dict[str, Any]:
        return _service_check(validate_translations, self.cleaned_data.get("translations"))

    def clean_csat_question(self) -> str:
        return _service_check(lambda value: validate_text("csat_question", value), self.cleaned_data.get("csat_question"))


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    form = InboxForm
    list_display = ("id", "name", "branch", "channel_type", "locale", "enable_auto_assignment", "max_assignment_limit")
    list_filter = ("channel_type", "enable_auto_assignment", "branch")
    search_fields = ("name", "website_token")
    readonly_fields = ("website_token", "hmac_secret")
    inlines = [InboxMemberInline]

    def save_model(self, request: Any, obj: Inbox, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in form.changed_data if name in inbox_services.INBOX_FIELDS}
        if change:
            inbox_services.inbox_update(inbox=obj, **values)
        else:
            created = inbox_services.inbox_create(
                **{name: form.cleaned_data[name] for name in inbox_services.INBOX_FIELDS if name in form.cleaned_data}
            )
            obj.pk = created.pk

    def delete_model(self, request: Any, obj: Inbox) -> None:
        inbox_services.inbox_delete(inbox=obj)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for inbox in queryset:
            inbox_services.inbox_delete(inbox=inbox)


@admin.register(InboxMember)
class InboxMemberAdmin(admin.ModelAdmin):
    """Adding and removing members goes through chat/services/inboxes.py: a removal releases
    the operator's unresolved conversations there and re-scopes their sockets."""

    list_display = ("id", "inbox", "user", "created_at")
    list_filter = ("inbox",)
    search_fields = ("user__username", "inbox__name")

    def get_readonly_fields(self, request: Any, obj: Any = None) -> tuple[str, ...]:
        return ("inbox", "user") if obj is not None else ()

    def save_model(self, request: Any, obj: InboxMember, form: Any, change: bool) -> None:
        if change:
            return  # nothing editable on an existing membership
        inbox_services.inbox_members_add(inbox=obj.inbox, user_ids=[obj.user_id])
        obj.pk = InboxMember.objects.get(inbox=obj.inbox, user_id=obj.user_id).pk

    def delete_model(self, request: Any, obj: InboxMember) -> None:
        inbox_services.inbox_member_remove(inbox=obj.inbox, user_id=obj.user_id)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for member in queryset.select_related("inbox"):
            inbox_services.inbox_member_remove(inbox=member.inbox, user_id=member.user_id)


@admin.register(OperatorProfile)
class OperatorProfileAdmin(admin.ModelAdmin):
    """Role and name through ``agent_update`` (a role change re-scopes the operator's sockets);
    availability and language are the operator's own choices (presence, profile), shown only."""

    list_display = ("user", "display_name", "role", "availability", "locale")
    list_filter = ("role", "availability")
    search_fields = ("user__username", "display_name", "user__email")
    filter_horizontal = ("branches",)
    readonly_fields = ("user", "availability", "locale")

    def has_add_permission(self, request: Any) -> bool:
        return False  # profiles come with their account (REST /agents/ or on first use)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def save_model(self, request: Any, obj: OperatorProfile, form: Any, change: bool) -> None:
        agent_services.agent_update(user=obj.user, name=obj.display_name, role=obj.role)


class ServicePasswordChangeForm(AdminPasswordChangeForm):
    """The admin's "change password" form, through ``agent_set_password``: every token,
    session and socket of the operator is revoked."""

    def save(self, commit: bool = True) -> Any:
        agent_services.agent_set_password(user=self.user, password=self.cleaned_data["password1"])
        return self.user


class OperatorUserAdmin(UserAdmin):
    """Django's user admin, with the changes that revoke access through the services:
    deactivation (``agent_deactivate``), the superuser flag (re-scopes the sockets), the
    password (``agent_set_password``). Deleting an account is refused: deactivate it."""

    change_password_form = ServicePasswordChangeForm

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        changed = set(form.changed_data)
        deactivate = "is_active" in changed and not obj.is_active
        with transaction.atomic():
            if deactivate:
                obj.is_active = True  # the service deactivates (and sees the change)
            super().save_model(request, obj, form, change)
            if deactivate:
                agent_services.agent_deactivate(user=obj)
            if "is_superuser" in changed:
                agent_services.agent_access_changed(user_id=obj.pk)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, OperatorUserAdmin)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "email", "phone", "identifier", "blocked", "last_activity_at")
    list_filter = ("blocked",)
    search_fields = ("name", "email", "phone", "identifier")
    actions = ("block_contacts", "unblock_contacts")

    def save_model(self, request: Any, obj: Contact, form: Any, change: bool) -> None:
        blocked_changed = change and "blocked" in form.changed_data
        with transaction.atomic():
            if blocked_changed:
                obj.blocked = not obj.blocked  # the service sets it (and closes sockets)
            super().save_model(request, obj, form, change)
            if blocked_changed:
                contact_services.contact_set_blocked(contact=obj, blocked=not obj.blocked)

    @admin.action(description="Block (close their widget sockets and streams)")
    def block_contacts(self, request: Any, queryset: Any) -> None:
        for contact in queryset:
            contact_services.contact_block(contact=contact)

    @admin.action(description="Unblock")
    def unblock_contacts(self, request: Any, queryset: Any) -> None:
        for contact in queryset:
            contact_services.contact_unblock(contact=contact)


@admin.register(ContactInbox)
class ContactInboxAdmin(admin.ModelAdmin):
    list_display = ("id", "contact", "inbox", "source_id", "created_at")
    list_filter = ("inbox",)
    search_fields = ("source_id", "contact__name", "contact__email")
    readonly_fields = ("contact", "inbox", "pubsub_token")

    def has_add_permission(self, request: Any) -> bool:
        return False  # visitors come from widget sessions

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("direction", "private", "content", "sender_contact", "sender_user", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """View only: assignee, status, priority and attributes change through the panel or the
    API (assignment and conversation services: permissions, capacity, activity lines, events);
    conversations are never deleted here (their events would vanish unseen)."""

    list_display = ("id", "display_id", "branch", "inbox", "contact", "assignee", "status", "priority", "last_activity_at")
    list_filter = ("status", "priority", "inbox", "branch")
    search_fields = ("display_id", "contact__name", "contact__email", "identifier")
    inlines = [MessageInline]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "direction", "private", "short_content", "created_at")
    list_filter = ("direction", "private", "content_type")
    search_fields = ("content", "source_id", "echo_id")
    raw_id_fields = ("conversation", "sender_contact", "sender_user")

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80]

    def has_add_permission(self, request: Any) -> bool:
        return False  # messages are recorded by chat/services/messages.py (events, counters)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("id", "message", "file_type", "size", "created_at")
    list_filter = ("file_type",)
    raw_id_fields = ("message",)

    def has_add_permission(self, request: Any) -> bool:
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "inbox", "conversation", "audience", "created_at")
    list_filter = ("type", "audience")
    search_fields = ("type",)
    raw_id_fields = ("inbox", "conversation", "contact_inbox", "user")

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:  # the outbox is append-only
        return False

    def has_add_permission(self, request: Any) -> bool:
        return False


# --- Webhooks: shown here, changed through the API (chat/services/webhooks.py validates) --------


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(_ReadOnlyAdmin):
    list_display = ("id", "url", "inbox", "active", "created_at")
    list_filter = ("active",)
    fields = ("url", "subscriptions", "inbox", "active", "created_at")  # never the secret

    def delete_model(self, request: Any, obj: Webhook) -> None:
        webhook_services.webhook_delete(webhook_id=obj.pk)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for webhook_id in list(queryset.values_list("pk", flat=True)):
            webhook_services.webhook_delete(webhook_id=webhook_id)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnlyAdmin):
    list_display = ("event_id", "webhook", "event_type", "state", "attempts", "last_status", "next_attempt_at",
                    "delivered_at")
    list_filter = ("state", "event_type")
    raw_id_fields = ("webhook",)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


# --- Canned responses and labels: written by their services (docs/desk.md) ------------------------


class ServiceForm(forms.ModelForm):
    """A change form whose save is a service call made while the form validates, so that the
    service's refusals (bad input, a duplicate, also one created at the same moment by someone
    else) show as form errors instead of an error page. It is the last step of validation, and a
    refusing service writes nothing (its own transaction), so a page that answers with errors
    leaves nothing written. The model's own
    uniqueness checks are skipped: the service owns them (normalized names, both scopes)."""

    result: Any = None

    def call_service(self, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # ModelForm's validation step (not in the stubs)
        if self.errors:  # the last step of validation: nothing is written for a refused form
            return
        try:
            self.result = self.call_service(self.cleaned_data)
        except AppError as exc:
            for name, messages in (exc.fields or {}).items():
                field = name if name in self.fields else None
                for message in messages if isinstance(messages, list) else [messages]:
                    self.add_error(field, str(message))
            if not exc.fields:
                self.add_error(None, str(exc.message))

    def validate_unique(self) -> None:
        pass


class CannedResponseForm(ServiceForm):
    class Meta:
        model = CannedResponse
        fields = ("short_code", "content", "inbox")

    def call_service(self, data: dict[str, Any]) -> Any:
        inbox = data.get("inbox")
        values = {"short_code": data.get("short_code"), "content": data.get("content"),
                  "inbox_id": inbox.pk if inbox is not None else None}
        if self.instance.pk is None:
            return canned_services.canned_response_create(**values)
        return canned_services.canned_response_update(response_id=self.instance.pk, **values)


class ServiceAdmin(admin.ModelAdmin):
    """Saves and deletes through the services (the form already called them)."""

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        saved = form.result
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        pass  # no relation is edited here


@admin.register(CannedResponse)
class CannedResponseAdmin(ServiceAdmin):
    form = CannedResponseForm
    list_display = ("id", "short_code", "inbox", "short_content", "updated_at")
    list_filter = ("inbox",)
    search_fields = ("short_code", "content")

    @admin.display(description="content")
    def short_content(self, obj: CannedResponse) -> str:
        return obj.content[:80]

    def delete_model(self, request: Any, obj: CannedResponse) -> None:
        canned_services.canned_response_delete(response_id=obj.pk)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for response_id in list(queryset.values_list("pk", flat=True)):
            canned_services.canned_response_delete(response_id=response_id)


class LabelForm(ServiceForm):
    class Meta:
        model = Label
        fields = ("name", "color", "description")

    def call_service(self, data: dict[str, Any]) -> Any:
        values = {"name": data.get("name"), "color": data.get("color"), "description": data.get("description")}
        if self.instance.pk is None:
            return label_services.label_create(**values)
        return label_services.label_update(label_id=self.instance.pk, **values)


@admin.register(Label)
class LabelAdmin(ServiceAdmin):
    form = LabelForm
    list_display = ("id", "name", "color", "description", "created_at")
    search_fields = ("name", "description")

    def delete_model(self, request: Any, obj: Label) -> None:
        label_services.label_delete(label_id=obj.pk)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for label_id in list(queryset.values_list("pk", flat=True)):
            label_services.label_delete(label_id=label_id)
