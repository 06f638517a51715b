"""URL configuration. Each area owns its own url module."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Widget real-time fallbacks (SSE, long-poll): chat/api/stream_urls.py
    path("api/widget/v1/", include("chat.api.stream_urls")),
    # REST API (DRF): chat/api/urls.py
    path("api/", include("chat.api.urls")),
    # Operator panel, login page and widget: frontend/urls.py
    path("", include("frontend.urls")),
]
