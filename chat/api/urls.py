"""REST API routes (DESIGN.md §8), included at ``api/``.

The widget's real-time fallbacks (``widget/v1/stream``, ``widget/v1/events``) live in
chat/api/stream_urls.py.
"""
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from chat.api import (
    auth_views,
    contact_views,
    offer_views,
    report_views,
    schema,  # noqa: F401  (registers the widget token security scheme)
    search_views,
    widget_views,
)
from chat.api import catalog_views as catalog
from chat.api import conversation_views as cv
from chat.api.admin_views import AgentViewSet, BranchViewSet, InboxMemberViewSet, InboxViewSet
from chat.api.operator_stream_views import operator_conversation_stream
from chat.api.webhook_views import WebhookViewSet


def route(pattern: str, view, name: str) -> list:
    """The documented form of a route, plus the same route with or without a trailing slash
    (clients write both; POST cannot be redirected). The alternate is left out of the schema."""
    alternate_view = _alternate(view)
    other = pattern[:-1] if pattern.endswith("/") else pattern + "/"
    return [path(pattern, view, name=name), path(other, alternate_view)]


def _alternate(view):
    def alternate(request, *args, **kwargs):
        return view(request, *args, **kwargs)

    # As DRF's own views: CSRF is enforced by SessionAuthentication. Without ``cls`` the
    # schema generator does not see this route (the documented form is listed once).
    alternate.csrf_exempt = True  # type: ignore[attr-defined]  # Django's view marker: a function attribute
    return alternate


class OptionalSlashRouter(SimpleRouter):
    """Admin routes with or without the trailing slash (documented with it)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("branches", BranchViewSet, basename="branch")
router.register("inboxes", InboxViewSet, basename="inbox")
router.register("agents", AgentViewSet, basename="agent")
router.register("webhooks", WebhookViewSet, basename="webhook")

members_list = InboxMemberViewSet.as_view({"get": "list", "post": "create", "put": "update"})
members_detail = InboxMemberViewSet.as_view({"delete": "destroy"})

v1 = [
    *route("auth/login", auth_views.LoginView.as_view(), "auth-login"),
    *route("auth/logout", auth_views.LogoutView.as_view(), "auth-logout"),
    *route("profile", auth_views.ProfileView.as_view(), "profile"),
    *route("inboxes/<int:inbox_id>/members/", members_list, "inbox-members"),
    *route("inboxes/<int:inbox_id>/members/<int:user_id>/", members_detail, "inbox-member"),
    *route("conversations/", cv.ConversationListView.as_view(), "conversation-list"),
    *route("conversations/meta/", cv.ConversationMetaView.as_view(), "conversation-meta"),
    *route("conversations/<int:conversation_id>/", cv.ConversationDetailView.as_view(), "conversation-detail"),
    *route("conversations/<int:conversation_id>/assign", cv.AssignView.as_view(), "conversation-assign"),
    *route("conversations/<int:conversation_id>/escalate", cv.EscalateView.as_view(), "conversation-escalate"),
    *route("conversations/<int:conversation_id>/toggle_status", cv.ToggleStatusView.as_view(),
           "conversation-toggle-status"),
    *route("conversations/<int:conversation_id>/toggle_priority", cv.TogglePriorityView.as_view(),
           "conversation-toggle-priority"),
    *route("conversations/<int:conversation_id>/read", cv.ReadView.as_view(), "conversation-read"),
    *route("conversations/<int:conversation_id>/messages/", cv.MessageListView.as_view(), "conversation-messages"),
    *route("conversations/<int:conversation_id>/messages/<int:message_id>/", cv.MessageDetailView.as_view(),
           "conversation-message"),
    *route("conversations/<int:conversation_id>/transcript", cv.TranscriptView.as_view(), "conversation-transcript"),
    *route("search/messages", search_views.MessageSearchView.as_view(), "search-messages"),
    *route("contacts/", contact_views.ContactListView.as_view(), "contact-list"),
    *route("contacts/<int:contact_id>/", contact_views.ContactDetailView.as_view(), "contact-detail"),
    *route("contacts/<int:contact_id>/block", contact_views.ContactBlockView.as_view(), "contact-block"),
    *route("contacts/<int:contact_id>/unblock", contact_views.ContactUnblockView.as_view(), "contact-unblock"),
    *route("contacts/<int:contact_id>/conversations/", contact_views.ContactConversationsView.as_view(),
           "contact-conversations"),
    *route("offers/", offer_views.OfferListView.as_view(), "offer-list"),
    *route("conversations/<int:conversation_id>/accept", offer_views.AcceptView.as_view(), "conversation-accept"),
    *route("conversations/<int:conversation_id>/decline", offer_views.DeclineView.as_view(), "conversation-decline"),
    *route("conversations/<int:conversation_id>/labels", catalog.ConversationLabelsView.as_view(),
           "conversation-labels"),
    *route("canned_responses/", catalog.CannedResponseListView.as_view(), "canned-response-list"),
    *route("canned_responses/<int:response_id>/", catalog.CannedResponseDetailView.as_view(), "canned-response-detail"),
    *route("labels/", catalog.LabelListView.as_view(), "label-list"),
    *route("labels/<int:label_id>/", catalog.LabelDetailView.as_view(), "label-detail"),
    *route("reports/summary", report_views.SummaryView.as_view(), "reports-summary"),
    *route("reports/timeseries", report_views.TimeseriesView.as_view(), "reports-timeseries"),
    *route("reports/agents", report_views.AgentsView.as_view(), "reports-agents"),
    path("", include(router.urls)),
]

widget_v1 = [
    *route("sessions", widget_views.WidgetSessionView.as_view(), "widget-sessions"),
    *route("messages", widget_views.WidgetMessagesView.as_view(), "widget-messages"),
    *route("typing", widget_views.WidgetTypingView.as_view(), "widget-typing"),
    *route("read", widget_views.WidgetReadView.as_view(), "widget-read"),
    *route("transcript", widget_views.WidgetTranscriptView.as_view(), "widget-transcript"),
    *route("csat", widget_views.WidgetCsatView.as_view(), "widget-csat"),
    *route("contact", widget_views.WidgetContactView.as_view(), "widget-contact"),
]

@csrf_exempt  # nothing to protect, and Django's CSRF check would answer a POST with its HTML page
def not_found(request, *args, **kwargs) -> JsonResponse:
    """Any other path under /api/ (a typo, a non-numeric id), for every method: the JSON error,
    not an HTML page (DESIGN §11)."""
    return JsonResponse({"error": {"code": "not_found", "message": "No such endpoint."}}, status=404)


urlpatterns = [
    path("v1/", include(v1)),
    # The seed's operator stream (SSE, an async view): chat/api/operator_stream_views.py
    path("messenger/conversations/<int:conversation_id>/stream/", operator_conversation_stream,
         name="messenger-conversation-stream"),
    path("widget/v1/", include(widget_v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^", not_found),  # last: after every real route
]
