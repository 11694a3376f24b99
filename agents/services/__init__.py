"""Write-side operations for agents and their audit trail. Every function is one transaction.

The orchestrator lives in `agents.services.orchestrator` (imported where used, since it
builds on the planning services).
"""

from agents.services.agents import (
    agent_create,
    agent_delete,
    agent_pending_tasks_release,
    agent_run_create,
    agent_terminate,
    agent_update,
)
from agents.services.checkpoints import (
    checkpoint_diff,
    checkpoint_restore,
    checkpoint_snapshot,
)
from agents.services.external import (
    IssuedKey,
    agent_heartbeat,
    agent_key_issue,
    agent_key_revoke,
    agent_run_complete,
    agent_run_fail,
    decisions_report,
    external_agent_create,
    metrics_report,
    stale_leases_expire,
    task_claim,
    tool_calls_report,
)
from agents.services.logs import (
    decision_record,
    llm_usage_record,
    metric_record,
    planning_cycle_close,
    planning_cycle_open,
    run_metrics_record,
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
    "IssuedKey",
    "agent_create",
    "agent_delete",
    "agent_heartbeat",
    "agent_key_issue",
    "agent_key_revoke",
    "agent_pending_tasks_release",
    "agent_run_complete",
    "agent_run_create",
    "agent_run_fail",
    "agent_state_create",
    "agent_state_delete",
    "agent_state_set",
    "agent_state_update",
    "agent_terminate",
    "agent_update",
    "checkpoint_create",
    "checkpoint_delete",
    "checkpoint_diff",
    "checkpoint_restore",
    "checkpoint_snapshot",
    "checkpoint_update",
    "decision_record",
    "decisions_report",
    "external_agent_create",
    "llm_usage_record",
    "metric_record",
    "metrics_report",
    "planning_cycle_close",
    "planning_cycle_open",
    "run_metrics_record",
    "stale_leases_expire",
    "task_claim",
    "tool_call_complete",
    "tool_call_start",
    "tool_calls_report",
]
