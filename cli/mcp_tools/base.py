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

    def input_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": self.properties}
        if self.required:
            schema["required"] = list(self.required)
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
RUN_ID = integer("run.id from claim_task")
ATTEMPT = integer("run.attempt from claim_task")
PRIORITY = string("Priority", enum=["high", "medium", "low"])
