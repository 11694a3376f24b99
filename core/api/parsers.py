from typing import Any

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.settings import api_settings
from rest_framework.utils import json

from core.json_input import JSONInputError, json_loads_checked


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def too_large(*, limit: int, what: str, setting: str) -> RequestTooLarge:
    """The 413 for a body or file over `limit` bytes, naming the limit and its setting."""
    size = f"{limit // 1024 // 1024} MB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
    return RequestTooLarge(f"{what} may be at most {size} ({setting}).")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering a 400 that says which for JSON Crewboard cannot store
    (a NUL character or a lone surrogate in a string or key, which PostgreSQL refuses),
    or nested deeper than `core.json_input.MAX_DEPTH`; and a 413 for a body over
    `API_JSON_MAX_BYTES`, before more than that is read."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit: int = settings.API_JSON_MAX_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise too_large(limit=limit, what="A JSON body", setting="API_JSON_MAX_BYTES")
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = raw.decode(encoding)
        except LookupError:
            # Also a bytes-to-bytes codec (bz2_codec), which would expand a small body.
            raise ParseError(f"Unsupported charset {encoding!r} in Content-Type.") from None
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding}: {exc}") from None
        parse_constant = json.strict_constant if api_settings.STRICT_JSON else None
        try:
            return json_loads_checked(text, parse_constant=parse_constant)
        except JSONInputError as exc:
            raise ParseError(str(exc)) from None
