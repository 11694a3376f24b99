"""A tool for the crash-recovery test: counts its runs, then, while a hold file exists,
waits inside its transaction, so a test can kill the worker while the tool is in flight."""

import time
from pathlib import Path
from typing import Any

from agents import services
from agents.selectors import agent_state_get
from agents.tools import ToolContext, tool


@tool(
    name="count_and_wait",
    description="Test only: count this call under `name`, then wait while `hold_file` exists.",
    parameters={
        "type": "object",
        "properties": {"name": {"type": "string"}, "hold_file": {"type": "string"}},
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
    hold = Path(args["hold_file"]) if args.get("hold_file") else None
    deadline = time.monotonic() + 120
    while hold is not None and hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"count": count}
