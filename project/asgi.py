"""ASGI entry point: HTTP through Django, WebSockets through the chat routes."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)

from django.conf import settings  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402

if settings.RUN_IN_PROCESS_WORKER:
    from assignment.worker import start_in_process_worker

    start_in_process_worker()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin and authentication are checked per consumer (operator: session or token
        # with an Origin check; widget: the inbox's own allowed origins).
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
