"""What the planning admin's pages share: read-only inlines and the cycle error."""

from __future__ import annotations

from typing import TypeVar

from django.contrib import admin
from django.contrib.admin.utils import flatten
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import HttpRequest

Row = TypeVar("Row", bound=Model)
Parent = TypeVar("Parent", bound=Model)


class ReadOnlyInline(admin.TabularInline[Row, Parent]):
    """Rows listed under their parent for reading; they are changed elsewhere or never."""

    extra = 0

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        # Non-editable columns such as created_at cannot be form fields.
        return flatten(self.fields or ())

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def cycle_error(cycle: list[int], keys: dict[int, str]) -> ValidationError:
    return ValidationError(
        "This dependency would close a cycle: " + " -> ".join(keys[i] for i in cycle)
    )
