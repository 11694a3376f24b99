"""Admin helpers shared by every app."""

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.utils.html import format_html
from django.utils.safestring import SafeString


def json_block(value: object) -> SafeString:
    """JSON laid out over several lines, for read-only admin fields."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


def json_display(field: str) -> Callable[[admin.ModelAdmin[Any], Model], SafeString]:
    """A read-only admin field showing the JSON column `field` pretty-printed."""

    @admin.display(description=field.replace("_", " "))
    def display(model_admin: admin.ModelAdmin[Any], obj: Model) -> SafeString:
        return json_block(getattr(obj, field))

    return display
