"""Django admin for every model. Changes with rules go through services."""
from django.contrib import admin

from chat.models import (
    Attachment,
    Branch,
    Contact,
    ContactInbox,
    Conversation,
    Event,
    Inbox,
    InboxMember,
    Message,
    OperatorProfile,
)
from chat.services.branches import invalidate_default_branch


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "is_default", "last_display_id", "created_at")
    list_filter = ("is_default",)
    search_fields = ("name",)
    readonly_fields = ("last_display_id",)

    def save_model(self, request, obj, form, change):
        if obj.is_default:
            Branch.objects.filter(is_default=True).exclude(pk=obj.pk).update(is_default=False)
        super().save_model(request, obj, form, change)
        invalidate_default_branch()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        invalidate_default_branch()


class InboxMemberInline(admin.TabularInline):
    model = InboxMember
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "branch", "channel_type", "enable_auto_assignment", "max_assignment_limit")
    list_filter = ("channel_type", "enable_auto_assignment", "branch")
    search_fields = ("name", "website_token")
    inlines = [InboxMemberInline]


@admin.register(InboxMember)
class InboxMemberAdmin(admin.ModelAdmin):
    list_display = ("id", "inbox", "user", "created_at")
    list_filter = ("inbox",)
    search_fields = ("user__username", "inbox__name")


@admin.register(OperatorProfile)
class OperatorProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "role", "availability")
    list_filter = ("role", "availability")
    search_fields = ("user__username", "display_name", "user__email")
    filter_horizontal = ("branches",)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "email", "phone", "identifier", "blocked", "last_activity_at")
    list_filter = ("blocked",)
    search_fields = ("name", "email", "phone", "identifier")


@admin.register(ContactInbox)
class ContactInboxAdmin(admin.ModelAdmin):
    list_display = ("id", "contact", "inbox", "source_id", "created_at")
    list_filter = ("inbox",)
    search_fields = ("source_id", "contact__name", "contact__email")
    readonly_fields = ("pubsub_token",)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("direction", "private", "content", "sender_contact", "sender_user", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "display_id", "branch", "inbox", "contact", "assignee", "status", "priority", "last_activity_at")
    list_filter = ("status", "priority", "inbox", "branch")
    search_fields = ("display_id", "contact__name", "contact__email", "identifier")
    raw_id_fields = ("contact", "contact_inbox", "assignee")
    readonly_fields = ("display_id", "created_at")
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "direction", "private", "short_content", "created_at")
    list_filter = ("direction", "private", "content_type")
    search_fields = ("content", "source_id", "echo_id")
    raw_id_fields = ("conversation", "sender_contact", "sender_user")

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("id", "message", "file_type", "size", "created_at")
    list_filter = ("file_type",)
    raw_id_fields = ("message",)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "inbox", "conversation", "audience", "created_at")
    list_filter = ("type", "audience")
    search_fields = ("type",)
    raw_id_fields = ("inbox", "conversation", "contact_inbox", "user")

    def has_change_permission(self, request, obj=None):  # the outbox is append-only
        return False
