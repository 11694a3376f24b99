"""Agents, their runs, and the audit trail they leave, one module per topic: agents,
runs (and their steps), audit (append-only: tool calls, decisions, planning cycles,
metrics), state (checkpoints, the key-value store), reviews (and merges), workspaces (and
run logs). Every model is imported here, where Django and callers look for them.
"""

from agents.models.agents import Agent
from agents.models.audit import DecisionLog, Metric, PlanningCycle, ToolCall
from agents.models.reviews import Merge, Review, ReviewComment
from agents.models.runs import AgentRun, AgentStep
from agents.models.state import AgentState, Checkpoint
from agents.models.workspaces import RunLogChunk, Workspace

__all__ = [
    "Agent",
    "AgentRun",
    "AgentState",
    "AgentStep",
    "Checkpoint",
    "DecisionLog",
    "Merge",
    "Metric",
    "PlanningCycle",
    "Review",
    "ReviewComment",
    "RunLogChunk",
    "ToolCall",
    "Workspace",
]
