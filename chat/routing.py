"""WebSocket URL routes.

The operator route gets the session (cookie) so that a browser panel can authenticate with its
Django session; the consumer checks the Origin before trusting it. The widget authenticates
with its first frame and needs no session. Any other path is refused before the handshake
completes (the server answers HTTP 403), never with an error and a traceback.
"""
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.sessions import SessionMiddlewareStack
from django.urls import path, re_path

from chat.consumers.operator import OperatorConsumer
from chat.consumers.widget import WidgetConsumer


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """A WebSocket handshake on a path we do not serve: refused (close before accept)."""

    async def connect(self) -> None:
        await self.close()


websocket_urlpatterns: list = [
    path("ws/operator/", SessionMiddlewareStack(OperatorConsumer.as_asgi())),
    path("ws/widget/", WidgetConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),  # last: every other path
]
