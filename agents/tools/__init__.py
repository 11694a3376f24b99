"""The registry of tools agents may call, offered to the model in the OpenAI tools format.

A tool is a typed function with a JSON schema for its arguments and a risk level:
`low` tools are on for every project; `medium` and `high` ones (such as the coding
tools of agents.tools.code and agents.tools.git: files, commands, git) only where the
project lists them in `Project.enabled_tools`. Modules named in
settings.AGENT_TOOL_MODULES are imported at start-up, so other apps (or a deployment)
can add tools.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import fastjsonschema
from django.conf import settings
from jsonschema import Draft202012Validator

from agents.llm import ToolSpec
from agents.tools.fast_check import compiled_check
from core.text import contains_nul
from planning.shapes import PROJECT_ENABLED_TOOLS
from planning.tool_options import ToolOption

if TYPE_CHECKING:
    from agents.models import Agent, AgentRun, ToolCall
    from planning.models import Project, Task

Risk = Literal["low", "medium", "high"]


class ToolError(Exception):
    """A failure the model should see and can act on (bad arguments, unknown key, ...)."""


@dataclass
class ToolContext:
    project: Project
    agent: Agent | None
    run: AgentRun | None
    task: Task | None
    step: int | None
    tool_call: ToolCall | None = None


Handler = Callable[[ToolContext, dict[str, Any]], Any]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Handler
    risk: Risk = "low"
    # The handler only reads the database, if it touches it at all: a failure leaves
    # nothing to undo, so the step runs it without a savepoint of its own (two round
    # trips fewer). A database error in it then fails the step's delivery, which is
    # retried, since the transaction it ran in cannot go on.
    reads_only: bool = False

    @functools.cached_property
    def _spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    @functools.cached_property
    def _validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.parameters)

    @functools.cached_property
    def _compiled_check(self) -> Callable[[Any], Any] | None:
        return compiled_check(self.parameters)

    def _fits_compiled(self, arguments: dict[str, Any]) -> bool:
        check = self._compiled_check
        if check is None:
            return False
        try:
            check(arguments)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def spec(self) -> ToolSpec:
        return self._spec

    def parse_arguments(self, arguments_json: str) -> dict[str, Any]:
        """The model's arguments, checked against the schema. Raises ToolError."""
        try:
            arguments = json.loads(arguments_json or "{}")
        except json.JSONDecodeError as exc:
            raise ToolError(
                f"arguments are not valid JSON ({exc.msg} at position {exc.pos})"
            ) from None
        if not isinstance(arguments, dict):
            raise ToolError("arguments must be a JSON object")
        if contains_nul(arguments):
            raise ToolError("arguments contain a NUL character (\\u0000), which cannot be stored")
        if self._fits_compiled(arguments):
            return arguments
        errors = sorted(self._validator.iter_errors(arguments), key=str)
        if errors:
            details = "; ".join(
                f"{'/'.join(str(p) for p in error.absolute_path) or '(arguments)'}: {error.message}"
                for error in errors[:5]
            )
            raise ToolError(f"arguments do not match the {self.name} schema: {details}")
        return arguments


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> Tool:
        Draft202012Validator.check_schema(tool.parameters)
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def all(self) -> list[Tool]:
        return sorted(self._tools.values(), key=lambda t: t.name)

    def for_project(self, project: Project) -> list[Tool]:
        """The tools a run in `project` may use: every low-risk tool, plus those enabled."""
        enabled = set(
            PROJECT_ENABLED_TOOLS.tolerant(
                project.enabled_tools, default=list, where=f"project {project.slug}"
            )
        )
        return [t for t in self.all() if t.risk == "low" or t.name in enabled]

    def for_agent(self, project: Project, role: str) -> list[Tool]:
        """The project's tools less those the agent's role does without (a tester or a
        reviewer changes no code)."""
        withheld = ROLE_WITHHELD_TOOLS.get(role, frozenset())
        return [
            t
            for t in self.for_project(project)
            if t.name not in withheld and role in ROLE_ONLY_TOOLS.get(t.name, (role,))
        ]


_WRITES = frozenset({"write_file", "edit_file", "git_commit"})
# Roles whose work is to look, not to change: the tools they never get.
ROLE_WITHHELD_TOOLS: dict[str, frozenset[str]] = {
    "tester": _WRITES,
    # A reviewer ends its run by giving its verdict (review_submit), not by finishing.
    # nor moves its task (the verdict does).
    "reviewer": _WRITES | {"run_command", "finish", "update_task_status"},
    "merger": frozenset({"write_file", "edit_file"}),
}

# Tools only these roles get.
ROLE_ONLY_TOOLS: dict[str, tuple[str, ...]] = {"review_submit": ("reviewer",)}


registry = ToolRegistry()


def tool(
    *,
    name: str,
    description: str,
    parameters: dict[str, Any],
    risk: Risk = "low",
    reads_only: bool = False,
) -> Callable[[Handler], Handler]:
    """Register the decorated function as a tool."""

    def register(handler: Handler) -> Handler:
        registry.register(
            Tool(
                name=name,
                description=description,
                parameters=parameters,
                handler=handler,
                risk=risk,
                reads_only=reads_only,
            )
        )
        return handler

    return register


def project_tool_options() -> list[ToolOption]:
    """The tools a project may enable: every tool that is not on for all (not low risk)."""
    return [
        ToolOption(name=t.name, risk=t.risk, description=t.description)
        for t in registry.all()
        if t.risk != "low"
    ]


def load_tool_modules() -> None:
    importlib.import_module("agents.tools.builtin")
    importlib.import_module("agents.tools.code")
    importlib.import_module("agents.tools.git")
    importlib.import_module("agents.tools.review")
    for module in getattr(settings, "AGENT_TOOL_MODULES", ()):
        importlib.import_module(module)
