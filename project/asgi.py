"""ASGI entry point: HTTP through Django, WebSockets through the chat routes.

Importing this module starts nothing: management commands and tests import it freely. With
RUN_IN_PROCESS_WORKER (the embedded default) the worker's ticks start in the process that
*serves* this application, once: at the ASGI lifespan startup (uvicorn) or, for servers that
send no lifespan (daphne, ``runserver``), with the first connection.

At the same moment the graceful shutdown is put in front of the server's own SIGTERM handler
(chat/realtime/shutdown.py): on SIGTERM the process finishes its sockets' in-flight commands,
closes them with 4503 and only then lets the server stop.
"""
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings

from chat.routing import websocket_urlpatterns


def start_background_work() -> None:
    """Start what runs beside the server in this process (idempotent). Runs on the server's
    event loop, after the server installed its signal handlers."""
    from chat.realtime.shutdown import install_sigterm_handler

    install_sigterm_handler()
    if settings.RUN_IN_PROCESS_WORKER:
        from assignment.worker import start_in_process_worker

        start_in_process_worker()


class ServerProcess:
    """Wraps the router: starts the in-process worker when a server first calls it, answers
    the lifespan protocol, and passes every other scope through."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.started = False

    def _start_once(self) -> None:
        if not self.started:
            self.started = True
            start_background_work()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self._start_once()
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.app(scope, receive, send)


application = ServerProcess(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # Origin and authentication are checked per consumer (operator: session or token
            # with an Origin check; widget: the inbox's own allowed origins).
            "websocket": URLRouter(websocket_urlpatterns),
        }
    )
)
