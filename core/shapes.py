"""Declared shapes of JSON columns: one compiled JSON Schema per field, shared by every writer.

A `JsonShape` is compiled once, at import, to Python code (fastjsonschema), so a valid
value costs about a microsecond: imports of 10,000 tasks check 20,000 values. Only an
invalid one goes through jsonschema, which says what is wrong. Writers call `check` (a
DomainError naming the field) or `problem`; models list theirs in `json_shapes`, which
`ShapedJsonModel` checks in `full_clean`, so the API, the admin and the dashboard forms
share them. Readers of rows written before the shapes existed call `tolerant` and get a
safe default instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import fastjsonschema
from django.core.exceptions import ValidationError
from django.db import models
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match

from core.errors import DomainError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Long enough for a path or an identifier in an error, short enough for one log line.
_SHOWN = 80

# Caps shared by the app shapes: a path, a short label, and a list of either.
PATH = {"type": "string", "maxLength": 1000}
LABEL = {"type": "string", "maxLength": 300}
MAX_ITEMS = 1000


def string_list(*, max_items: int = MAX_ITEMS, item: Mapping[str, Any] = PATH) -> dict[str, Any]:
    return {"type": "array", "items": dict(item), "maxItems": max_items}


def json_object(
    properties: Mapping[str, Any] | None = None, *, max_properties: int = 200
) -> dict[str, Any]:
    """An object whose named keys have a shape and whose other keys hold any JSON."""
    return {
        "type": "object",
        "properties": dict(properties or {}),
        "maxProperties": max_properties,
    }


class JsonShape:
    """One JSON field's schema, compiled once."""

    def __init__(self, schema: Mapping[str, Any], *, name: str) -> None:
        Draft202012Validator.check_schema(schema)
        self.schema = schema
        self.name = name
        self._validator = Draft202012Validator(schema)
        # The keywords the shapes use mean the same in draft 7, fastjsonschema's default.
        self._fast = fastjsonschema.compile(dict(schema))
        # Most stored values are an empty list or object (a field's default): whether
        # those fit is known once, so reading 20,000 rows checks only the others.
        self._empty_fits = {kind: self._run_fast(kind()) for kind in (list, dict)}

    def __repr__(self) -> str:
        return f"JsonShape({self.name})"

    def _fits_fast(self, value: Any) -> bool:
        if not value and type(value) in (list, dict):
            return self._empty_fits[type(value)]
        return self._run_fast(value)

    def _run_fast(self, value: Any) -> bool:
        try:
            self._fast(value)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def is_valid(self, value: Any) -> bool:
        # jsonschema has the last word on a value the compiled check refuses.
        return self._fits_fast(value) or bool(self._validator.is_valid(value))

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value`, in one sentence, or None when it fits."""
        if self._fits_fast(value):
            return None
        error = best_match(self._validator.iter_errors(value))
        return None if error is None else _describe(error)

    def check(self, value: Any, *, field: str | None = None) -> None:
        """Raise DomainError (400, naming `field`) when `value` does not fit."""
        problem = self.problem(value)
        if problem is not None:
            field = field or self.name
            raise DomainError(f"{field}: {problem}", field=field)

    def tolerant(self, value: Any, *, default: Callable[[], T], where: str) -> Any:
        """`value` when it fits, else `default()`, with a warning naming `where`.

        For readers of rows stored before the shape was checked (and of append-only
        rows, which cannot be repaired): they show what they can instead of failing.
        """
        if self.is_valid(value):
            return value
        logger.warning("Skipping a malformed %s on %s: %s", self.name, where, self.problem(value))
        return default()

    def repaired(self, value: Any, *, default: Callable[[], Any]) -> Any:
        """`value` made to fit by dropping what does not: the list items or the named
        keys of the wrong shape, and what is over the caps. A lone path becomes a list
        of one. What still does not fit becomes `default()`. For the data migrations
        that repair rows stored before the shape was checked."""
        if self.is_valid(value):
            return value
        schema = self.schema
        if schema.get("type") == "array" and isinstance(value, str):
            value = [value]
        if schema.get("type") == "array" and isinstance(value, list):
            item = Draft202012Validator(schema.get("items", {}))
            value = [v for v in value if item.is_valid(v)][: schema.get("maxItems")]
        elif schema.get("type") == "object" and isinstance(value, dict):
            named = {
                name: Draft202012Validator(sub)
                for name, sub in schema.get("properties", {}).items()
            }
            kept = {k: v for k, v in value.items() if k not in named or named[k].is_valid(v)}
            value = dict(list(kept.items())[: schema.get("maxProperties")])
        return value if self.is_valid(value) else default()


def _describe(error: SchemaError) -> str:
    where = "".join(f"[{part!r}]" for part in error.absolute_path)
    validator = error.validator
    instance: Any = error.instance
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        message = f"expected {_article(str(expected))}, not {_json_type(instance)}"
    elif validator == "maxItems":
        message = f"at most {error.validator_value} items, not {len(instance)}"
    elif validator == "maxLength":
        message = f"at most {error.validator_value} characters, not {len(instance)}"
    elif validator == "maxProperties":
        message = f"at most {error.validator_value} keys, not {len(instance)}"
    else:
        message = error.message
        if len(message) > _SHOWN * 2:
            message = message[: _SHOWN * 2] + "…"
    return f"{where}: {message}" if where else message


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[:1] in "aeiou" else f"a {type_name}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class ShapedJsonModel(models.Model):
    """A model whose JSON fields have declared shapes, checked by `full_clean`.

    Errors are keyed by field, so a ModelForm shows them on the field and the API's
    exception handler answers 400 naming it.
    """

    json_shapes: ClassVar[Mapping[str, JsonShape]] = {}

    class Meta:
        abstract = True

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        errors: dict[str, list[str]] = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors = {name: list(messages) for name, messages in exc.message_dict.items()}
        for name, shape in self.json_shapes.items():
            if (exclude and name in exclude) or name in errors:
                continue
            problem = shape.problem(getattr(self, name))
            if problem is not None:
                errors[name] = [problem]
        if errors:
            raise ValidationError(errors)


# A shaped field a data migration repairs: (model name, field name, shape, default).
Repair = tuple[str, str, JsonShape, Callable[[], Any]]

# Rows named one by one in a migration's report; past that, only their count.
_REPORTED_ROWS = 20


def json_fields_repair(app_label: str, repairs: Sequence[Repair]) -> Callable[[Any, Any], None]:
    """A RunPython function that makes every row's shaped fields fit (see `repaired`),
    printing what it changed. Only for mutable tables: append-only ones refuse UPDATE,
    and their readers tolerate old rows instead."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        for model_name, field, shape, default in repairs:
            model = apps.get_model(app_label, model_name)
            rows = model._default_manager.order_by("pk").values_list("pk", field)
            changed = 0
            for pk, value in rows.iterator(chunk_size=2000):
                if shape.is_valid(value):
                    continue
                fixed = shape.repaired(value, default=default)
                model._default_manager.filter(pk=pk).update(**{field: fixed})
                changed += 1
                if changed <= _REPORTED_ROWS:
                    print(
                        f"  {app_label}.{model_name} {pk} {field}: {shape.problem(value)}; "
                        f"now {_shown(fixed)}"
                    )
            if changed:
                print(f"  {app_label}.{model_name}.{field}: repaired {changed} rows")

    return forwards


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
