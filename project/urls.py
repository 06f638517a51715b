"""URL configuration. Each area owns its own url module."""
from django.contrib import admin
from django.urls import include, path

from chat.api.attachment_views import attachment_download
from project import ops

# An outage raised outside a view (e.g. by a middleware) answers 503 JSON, not an HTML 500.
handler500 = "project.middleware.server_error"

urlpatterns = [
    # Operations (DESIGN.md §13): project/ops.py
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # Attachment files, only through their signed links (chat/services/attachments.py)
    path("attachments/<int:pk>/<str:signature>/", attachment_download, name="attachment-download"),
    # Widget real-time fallbacks (SSE, long-poll): chat/api/stream_urls.py
    path("api/widget/v1/", include("chat.api.stream_urls")),
    # REST API (DRF): chat/api/urls.py
    path("api/", include("chat.api.urls")),
    # Operator panel, login page and widget: frontend/urls.py
    path("", include("frontend.urls")),
]
