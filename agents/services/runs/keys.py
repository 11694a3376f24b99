"""A coding CLI's run key: it reports on its own run, and only while the run is running.

The key is issued as a delivery of the run's CLI begins (a later delivery, or a follow-up
attempt after failed checks, gets a new one and the old one stops working) and revoked
when the run ends (`life._end` clears it). Only its SHA-256 is stored, as for agent keys;
`agents.auth` refuses it for anything but the run's own reports and the plan's reads.
"""

from __future__ import annotations

from agents.keys import agent_key_hash, run_key_new
from agents.models import AgentRun


def run_key_issue(*, run: AgentRun) -> str:
    """Give the running run a new key, replacing any earlier one, and return it (the only
    time it is seen). Call inside the transaction that holds the run."""
    key = run_key_new()
    run.key_hash = agent_key_hash(key)
    AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.RUNNING).update(key_hash=run.key_hash)
    return key


def run_key_revoke(*, run: AgentRun, key: str) -> None:
    """Stop `key` from working (its CLI has exited). A newer key of the run (a later
    delivery's) is left alone."""
    if not key:
        return
    key_hash = agent_key_hash(key)
    if run.key_hash == key_hash:
        run.key_hash = ""
    AgentRun.objects.filter(pk=run.pk, key_hash=key_hash).update(key_hash="")
