"""Origins: the one normalizer and the one "is this origin listed for this inbox" predicate.

Used by inbox validation (``chat/services/inboxes.validate_origins``), CORS of the widget REST
endpoints and of SSE / long-poll (``chat/api/cors.py``, ``chat/api/stream_views.py``) and the
socket and stream admission rule (``chat/realtime/access.widget_origin_allowed``).

An origin is compared in its RFC 6454 serialization, ``scheme://host[:port]``: scheme and host
lower-cased, the scheme's default port dropped (``:443`` for https, ``:80`` for http),
surrounding whitespace and one trailing slash tolerated. Anything else is not an origin and
matches nothing: a path, query, fragment or user info, a port out of range, control
characters, a scheme other than http(s), and ``null`` (what a sandboxed frame or a ``file:``
page sends).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

WILDCARD = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
MAX_ORIGIN_LENGTH = 2048


def normalize_origin(origin: str | None) -> str | None:
    """``" HTTPS://Shop.Example:443/ "`` → ``"https://shop.example"``; None when it is not a
    web origin (see the module docstring)."""
    if not isinstance(origin, str):
        return None
    value = origin.strip()
    if not value or len(value) > MAX_ORIGIN_LENGTH or _BAD_CHARS.search(value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # a port out of range or not a number
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or value.endswith(("?", "#")):
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_listed(origin: str | None, allowed_origins: Iterable[object] | None) -> bool:
    """The origin is one of the inbox's ``allowed_origins`` (``*`` lists every origin); an
    origin that does not normalize, or an empty list, lists nothing."""
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    for entry in allowed_origins or ():
        if entry == WILDCARD or (isinstance(entry, str) and normalize_origin(entry) == normalized):
            return True
    return False
