"""ASGI entry point: HTTP through Django, WebSockets through the chat routes."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)

from chat.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin and authentication are checked per consumer (operator: session or token
        # with an Origin check; widget: the inbox's own allowed origins).
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
