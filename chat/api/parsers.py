"""Request body parsers of the REST API (the default: settings.REST_FRAMEWORK).

``JSONParser`` decodes with orjson (strict UTF-8: a non-UTF-8 body, a lone surrogate, NaN or an
integer past 64 bits is a parse error, and its nesting limit stops a 50,000-deep body before
any recursion) and then applies ``chat.validation.clean_json`` (depth, control characters).
Every failure is a 400 ``invalid_data`` in the JSON error shape, never a 500.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from chat.validation import clean_json


class JSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        if stream is None:
            return {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1) if limit else stream.read()
        if limit and len(body) > limit:
            raise ParseError(_("The request body is too large."))
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(format_lazy(_("JSON parse error: {error}"), error=exc)) from None
        return clean_json(data)
