from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from core.text import NUL_REFUSED, contains_nul


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering a 400 for NUL characters (`\\u0000`) in strings or
    keys: PostgreSQL cannot store them, so they would fail the write with a 500 there
    (and only there)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if contains_nul(data):
            raise ParseError(NUL_REFUSED)
        return data
