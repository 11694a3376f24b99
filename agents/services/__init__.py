"""Write-side operations for agents and their audit trail. Every function is one transaction."""

from agents.services.agents import (
    agent_create,
    agent_delete,
    agent_run_create,
    agent_terminate,
    agent_update,
)
from agents.services.logs import (
    decision_record,
    llm_usage_record,
    metric_record,
    planning_cycle_close,
    planning_cycle_open,
    tool_call_complete,
    tool_call_start,
)
from agents.services.state import (
    agent_state_create,
    agent_state_delete,
    agent_state_set,
    agent_state_update,
    checkpoint_create,
    checkpoint_delete,
    checkpoint_update,
)

__all__ = [
    "agent_create",
    "agent_delete",
    "agent_run_create",
    "agent_state_create",
    "agent_state_delete",
    "agent_state_set",
    "agent_state_update",
    "agent_terminate",
    "agent_update",
    "checkpoint_create",
    "checkpoint_delete",
    "checkpoint_update",
    "decision_record",
    "llm_usage_record",
    "metric_record",
    "planning_cycle_close",
    "planning_cycle_open",
    "tool_call_complete",
    "tool_call_start",
]
