"""WebSocket URL routes.

The operator route gets the session (cookie) so that a browser panel can authenticate with its
Django session; the consumer checks the Origin before trusting it. The widget authenticates
with its first frame and needs no session.
"""
from channels.sessions import SessionMiddlewareStack
from django.urls import path

from chat.consumers.operator import OperatorConsumer
from chat.consumers.widget import WidgetConsumer

websocket_urlpatterns: list = [
    path("ws/operator/", SessionMiddlewareStack(OperatorConsumer.as_asgi())),
    path("ws/widget/", WidgetConsumer.as_asgi()),
]
