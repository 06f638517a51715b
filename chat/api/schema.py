"""drf-spectacular extensions: the widget token as a documented security scheme."""
from __future__ import annotations

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class WidgetTokenScheme(OpenApiAuthenticationExtension):
    target_class = "chat.api.security.WidgetTokenAuthentication"
    name = "widgetToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Widget-Token",
                "description": "The visitor's pubsub_token from POST /api/widget/v1/sessions."}


class OperatorSessionScheme(SessionScheme):
    """DRF's session scheme, for its subclass that also picks the operator's language."""

    target_class = "chat.api.security.OperatorSessionAuthentication"
    priority = 0
