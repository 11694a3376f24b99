"""What an MCP tool is: its name, descriptions, input schema, profile and the REST call
it makes, with the pieces of schema the tool tables share."""

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

PROFILES = ("core", "standard", "all")
DEFAULT_PROFILE = "standard"


@dataclass(frozen=True)
class RestCall:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Tool:
    name: str
    summary: str  # what the `core` profile shows: a line
    description: str  # what `standard` and `all` show
    profile: str  # the smallest profile that has it
    method: str
    path: str  # with {argument} placeholders
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    query: tuple[str, ...] = ()  # arguments sent in the query string; the rest go in the body
    # The body is this one argument's value rather than an object of the arguments.
    body_argument: str = ""
    # A coding CLI's run key may call it: its REST endpoint lets run keys through (the
    # views' `run_key_methods`; tests/agents/test_mcp_run_keys.py holds the two alike).
    run_key: bool = False

    def input_schema(self, *, run_key: bool = False) -> dict[str, Any]:
        """The tool's JSON Schema; for a run key, `run_id` may be left out (its run)."""
        properties, required = self.properties, list(self.required)
        if run_key and RUN_ID_ARGUMENT in properties:
            properties = {**properties, RUN_ID_ARGUMENT: RUN_OF_KEY}
            required.remove(RUN_ID_ARGUMENT)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def in_profile(self, profile: str) -> bool:
        return PROFILES.index(self.profile) <= PROFILES.index(profile)

    def rest_call(self, arguments: dict[str, Any]) -> RestCall:
        """The request this tool makes for `arguments`; raises ValueError when a
        required argument is missing."""
        missing = [name for name in self.required if arguments.get(name) in (None, "")]
        if missing:
            raise ValueError(f"{self.name} needs {', '.join(missing)}.")
        in_path = {
            name: quote(str(arguments.get(name) or ""), safe="")
            for name in self.properties
            if "{" + name + "}" in self.path
        }
        # An optional path argument left out drops its segment (`state/{key}/` → `state/`).
        path = self.path.format(**in_path).replace("//", "/")
        query = {
            name: _query_value(arguments[name])
            for name in self.query
            if arguments.get(name) is not None
        }
        rest = {
            name: value
            for name, value in arguments.items()
            if name not in in_path and name not in self.query and name in self.properties
        }
        if self.body_argument:
            body: Any = arguments.get(self.body_argument)
        else:
            body = rest if self.method in ("POST", "PUT", "PATCH") else None
        return RestCall(self.method, path, query, body)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def integer(description: str) -> dict[str, Any]:
    return {"type": "integer", "description": description}


TASK_KEY = string("Task key, e.g. 01-02-T1 or 12.3")
RUN_ID_ARGUMENT = "run_id"
RUN_ID = integer("run.id from claim_task")
RUN_OF_KEY = integer("The run; leave it out for the run this run key belongs to")
ATTEMPT = integer("run.attempt from claim_task")
PRIORITY = string("Priority", enum=["high", "medium", "low"])
