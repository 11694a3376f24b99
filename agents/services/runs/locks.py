"""The locks a run's life takes, in the one order every path takes them: the agent,
then the run, then the task."""

from __future__ import annotations

from agents.models import Agent


def agent_lock(*, agent_id: int) -> None:
    """Lock an agent's row until the caller's transaction ends, before any run of it: every
    path that takes both takes the agent first. FOR NO KEY UPDATE, which a row inserted
    for the agent (a tool call, a decision) does not wait for when its foreign key is
    checked at commit (FOR KEY SHARE): a report, which locks only its run, never waits
    for a path that holds the agent and waits for the run."""
    list(Agent.objects.select_for_update(no_key=True).filter(pk=agent_id).values_list("pk"))


def run_agent_lock(*, run_id: int) -> None:
    """Lock the agent of run `run_id` (see agent_lock), before the run itself."""
    list(
        Agent.objects.select_for_update(no_key=True, of=("self",))
        .filter(runs=run_id)
        .values_list("pk")
    )
