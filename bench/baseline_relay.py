"""The baseline of bench/relay.py: a bare Channels relay on the same server and channel layer.

No authentication, no database, no outbox: a visitor socket's frame is ``group_send`` to its
pair's group and every operator socket in that group writes it out, through Channels' per-
consumer handler. Run it like the app: ``daphne bench.baseline_relay:application``.

    ws /relay/operator/<group>/   listens to the group
    ws /relay/visitor/<group>/    every text frame it sends goes to the group
"""
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.group = f"relay.{self.scope['url_route']['kwargs']['group']}"
        self.role = self.scope["url_route"]["kwargs"]["role"]
        if self.role == "operator":
            await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        await self.channel_layer.group_send(self.group, {"type": "relay.message", "text": text_data})

    async def relay_message(self, message) -> None:
        await self.send(text_data=message["text"])

    async def disconnect(self, code) -> None:
        if self.role == "operator":
            await self.channel_layer.group_discard(self.group, self.channel_name)


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("relay/<str:role>/<str:group>/", RelayConsumer.as_asgi())])}
)
