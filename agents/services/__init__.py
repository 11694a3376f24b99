"""Write-side operations for agents and their audit trail.

The services most callers need are importable from here. A run's life is owned by
`agents.services.runs`, dispatch by `agents.services.orchestrator`, and plan generation
by `agents.services.planner`; import those modules by name.
"""

from agents.services.agents import (
    agent_create,
    agent_delete,
    agent_pending_tasks_release,
    agent_terminate,
    agent_update,
)
from agents.services.checkpoints import (
    RESTORE_BRANCH,
    RestoreBranch,
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
    external_agent_create,
    task_claim,
)
from agents.services.external_reports import (
    decisions_report,
    metrics_report,
    tool_calls_report,
)
from agents.services.logs import (
    decision_record,
    metric_record,
    planning_cycle_close,
    planning_cycle_open,
    run_metrics_record,
)
from agents.services.runs import agent_run_create
from agents.services.state import (
    agent_state_create,
    agent_state_delete,
    agent_state_set,
    agent_state_update,
    checkpoint_create,
    checkpoint_delete,
    checkpoint_update,
)
from agents.services.tool_calls import (
    tool_call_complete,
    tool_call_completion_row,
    tool_call_start,
    tool_call_started_row,
)
from agents.services.usage import UsageContext, usage_record

__all__ = [
    "RESTORE_BRANCH",
    "IssuedKey",
    "RestoreBranch",
    "UsageContext",
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
    "metric_record",
    "metrics_report",
    "planning_cycle_close",
    "planning_cycle_open",
    "run_metrics_record",
    "task_claim",
    "tool_call_complete",
    "tool_call_completion_row",
    "tool_call_start",
    "tool_call_started_row",
    "tool_calls_report",
    "usage_record",
]
