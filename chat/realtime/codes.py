"""WebSocket close codes sent by the server (the 4xxx ones mirror HTTP statuses)."""
from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    # A frame larger than settings.WS_MAX_FRAME_BYTES (HTTP 413; RFC 6455's 1009 cannot be sent:
    # daphne's WebSocket library accepts only 1000 and 3000-4999 from an application, and
    # raised on 1009, so the client saw 1011 and the log a traceback).
    MESSAGE_TOO_BIG = 4413
    # No credentials, wrong credentials, or no widget ``auth`` frame in time.
    UNAUTHORIZED = 4401
    # Authenticated but not allowed: foreign Origin, blocked contact, deactivated operator.
    FORBIDDEN = 4403
    # Silent for longer than settings.WS_IDLE_TIMEOUT_SECONDS.
    IDLE_TIMEOUT = 4408
    # The socket did not read its frames fast enough (more than WS_SEND_BUFFER_MAX_BYTES or
    # WS_SEND_QUEUE_MAX frames waiting); the client reconnects and resumes.
    TOO_SLOW = 4429
    # The same code when the identity already holds its maximum of sockets
    # (WS_MAX_SOCKETS_PER_OPERATOR / WS_MAX_SOCKETS_PER_VISITOR); the close reason says which.
    TOO_MANY_SOCKETS = 4429
    # PostgreSQL or Redis is out of reach, or the server is restarting (DESIGN §13): reconnect
    # with jittered backoff and resume. daphne sends only 1000 and 3000-4999 from an app, so
    # 1013 is out.
    UNAVAILABLE = 4503
