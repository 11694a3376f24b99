"""The agent tools a project can enable, as planning sees them.

The tool registry lives in agents, which planning must not import (arrows point one
way). So agents tells this module its tools when it starts (agents/apps.py), and the
project settings page, the API and the services read them from here. Without agents
loaded, any name is accepted and no checkbox is offered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ToolOption:
    name: str
    risk: str
    description: str


_provider: Callable[[], Iterable[ToolOption]] | None = None


def tool_options_provide(provider: Callable[[], Iterable[ToolOption]] | None) -> None:
    """Set the function that lists the tools a project may enable (the opt-in ones)."""
    global _provider
    _provider = provider


def tool_options() -> list[ToolOption] | None:
    """The tools a project may enable, by name; None when nobody provided them."""
    if _provider is None:
        return None
    return sorted(_provider(), key=lambda option: option.name)


def enabled_tools_error(names: object, *, already: Iterable[str] = ()) -> str | None:
    """Why `names` cannot be a project's enabled_tools, or None. Names `already`
    enabled stay allowed (a tool whose module was taken away since)."""
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        return "enabled_tools must be a list of tool names."
    options = tool_options()
    if options is None:
        return None
    known = {option.name for option in options}
    unknown = sorted(set(names) - known - set(already))
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        return f"Unknown tool {', '.join(map(repr, unknown))}; tools that can be enabled: {listed}."
    return None
