"""A tool's argument schema compiled to Python, for the arguments of every call a model
asks for (agents.tools.Tool.parse_arguments).

jsonschema walks a schema for each value it checks; fastjsonschema compiles it once, so
a valid call is checked in microseconds. Its dialect is draft 7, and tools' schemas
are 2020-12: only a schema whose keywords mean the same in both is compiled, and
jsonschema still has the last word on arguments the compiled check refuses (and says
what is wrong with them). A schema with defaults is never compiled: fastjsonschema
would write them into the arguments.
"""

from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema

# Keywords whose value is a schema, a list of schemas, or a mapping of names to schemas.
_SCHEMA = frozenset({"additionalProperties", "items", "not", "propertyNames", "contains"})
_SCHEMAS = frozenset({"allOf", "anyOf", "oneOf"})
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties"})
# Keywords that only constrain the value in place, the same way in both dialects.
_PLAIN = frozenset(
    {
        "type",
        "required",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "title",
        "description",
    }
)


def compiled_check(schema: Mapping[str, Any]) -> Callable[[Any], Any] | None:
    """The schema compiled, when it means the same in draft 7 (see the module); None
    otherwise. The check raises fastjsonschema.JsonSchemaException for a value that
    does not fit."""
    if not _same_in_draft_7(schema):
        return None
    return fastjsonschema.compile(dict(schema))


def _same_in_draft_7(schema: Any) -> bool:
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping):
        return False
    for keyword, value in schema.items():
        if keyword in _PLAIN:
            continue
        if keyword in _SCHEMA:
            # `items` as a list means something else in 2020-12.
            if not _same_in_draft_7(value):
                return False
        elif keyword in _SCHEMAS:
            if not isinstance(value, list) or not all(_same_in_draft_7(s) for s in value):
                return False
        elif keyword in _NAMED_SCHEMAS:
            if not isinstance(value, Mapping) or not all(
                _same_in_draft_7(s) for s in value.values()
            ):
                return False
        elif keyword == "enum":
            # Python's == takes True for 1; JSON Schema does not. Texts only.
            if not isinstance(value, list) or not all(
                isinstance(item, str) or item is None for item in value
            ):
                return False
        elif keyword == "const":
            if not (isinstance(value, str) or value is None):
                return False
        else:
            return False
    return True
