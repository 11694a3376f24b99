"""A call's arguments are checked by the tool's schema compiled to Python where it means
the same in draft 7 (agents.tools.fast_check), with jsonschema's answer otherwise."""

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from agents.tools import Tool, ToolError, registry
from agents.tools.fast_check import compiled_check


def _tool(parameters: dict[str, Any]) -> Tool:
    return Tool(name="t", description="", parameters=parameters, handler=lambda c, a: None)


def test_every_registered_tools_schema_is_compiled():
    assert [t.name for t in registry.all() if compiled_check(t.parameters) is None] == []


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "properties": {"n": {"enum": [1, 2]}}},  # True == 1 in Python
        {"type": "object", "properties": {"n": {"const": 0}}},
        {"type": "object", "properties": {"n": {"type": "integer", "default": 3}}},
        {"type": "object", "properties": {"n": {"prefixItems": [{"type": "string"}]}}},
        {"type": "object", "properties": {"n": {"items": [{"type": "string"}]}}},
        {"type": "object", "$defs": {}, "properties": {"n": {"$ref": "#/$defs/x"}}},
    ],
)
def test_a_schema_that_means_something_else_in_draft_7_is_not_compiled(parameters):
    assert compiled_check(parameters) is None


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
        "count": {"type": "integer", "minimum": 0, "maximum": 3},
        "mode": {"enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["name"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "arguments",
    [
        {"name": "ab"},
        {"name": "ab", "count": 3, "mode": "b", "tags": ["x"], "either": None},
        {"name": ""},
        {"name": "ABC"},
        {"name": "abcdef"},
        {"name": "ab", "count": True},
        {"name": "ab", "count": 1.0},
        {"name": "ab", "count": 4},
        {"name": "ab", "mode": "c"},
        {"name": "ab", "tags": ["x", "y", "z"]},
        {"name": "ab", "tags": [1]},
        {"name": "ab", "either": 1},
        {"name": "ab", "other": 1},
        {"count": 1},
    ],
)
def test_the_compiled_check_answers_as_jsonschema_does(arguments):
    tool = _tool(SCHEMA)
    assert compiled_check(SCHEMA) is not None
    valid = Draft202012Validator(SCHEMA).is_valid(arguments)
    if valid:
        assert tool.parse_arguments(json.dumps(arguments)) == arguments
    else:
        with pytest.raises(ToolError, match="do not match the t schema"):
            tool.parse_arguments(json.dumps(arguments))
