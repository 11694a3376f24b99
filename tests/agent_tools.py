"""A tool for the crash-recovery test: counts its runs, then, while a hold file exists,
waits inside its transaction, so a test can kill the worker while the tool is in flight.
And `temporary_tool`, for a test that needs a tool of its own in the registry."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents import services
from agents.selectors import agent_state_get
from agents.tools import Tool, ToolContext, registry, tool
from tests.hang import HANG_S


@tool(
    name="count_and_wait",
    description="Test only: count this call under `name`, create `running_file`, then wait "
    "while `hold_file` exists.",
    parameters={
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "hold_file": {"type": "string"},
            "running_file": {"type": "string"},
        },
        "required": ["name"],
    },
)
def count_and_wait(context: ToolContext, args: dict[str, Any]) -> dict[str, int]:
    entry = agent_state_get(
        project=context.project, namespace="crash-test", key=args["name"], for_update=True
    )
    count = (entry.value if entry else 0) + 1
    services.agent_state_set(
        project=context.project, namespace="crash-test", key=args["name"], value=count
    )
    if args.get("running_file"):
        Path(args["running_file"]).touch()  # tells the test the call is under way
    hold = Path(args["hold_file"]) if args.get("hold_file") else None
    deadline = time.monotonic() + HANG_S
    while hold is not None and hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"count": count}


@contextmanager
def temporary_tool(
    name: str,
    *,
    risk: str,
    handler: Callable[[ToolContext, dict[str, Any]], Any] | None = None,
    reads_only: bool = False,
) -> Iterator[Tool]:
    """Register a test tool for the duration of the block."""
    registered = Tool(
        name=name,
        description="Test only.",
        parameters={"type": "object"},
        handler=handler or (lambda context, args: None),
        risk=risk,
        reads_only=reads_only,
    )
    registry.register(registered)
    try:
        yield registered
    finally:
        registry._tools.pop(name)
