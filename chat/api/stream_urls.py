"""Widget SSE and long-poll routes (chat/api/stream_views.py), under /api/widget/v1/."""
from django.urls import re_path

from chat.api import stream_views

urlpatterns = [
    re_path(r"^stream/?$", stream_views.widget_stream, name="widget-stream"),
    re_path(r"^events/?$", stream_views.widget_events, name="widget-events"),
]
