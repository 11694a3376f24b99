"""The one owner of an agent run's life.

```
           start / resume                   finish
  queued ─────────────────▶ running ─────────────────▶ succeeded | failed
    ▲  ◀──── pause (at a step boundary) ──┘   ▲                     │
    │                                         └──────── retry ◀─────┘ (built-in, failed)
  queued | running ── cancel ──▶ cancelled
  running ── expire (an external agent's lease ran out) ──▶ failed
```

A coding attempt (a task run of a built-in or CLI agent in a project with a repository)
goes through stages while it is running:

```
  preparing ── worktree made, setup run ──▶ coding ── work done ──▶ verifying
                                              ▲                        │
                                              └── checks failed, ◀─────┤ checks passed:
                                                  under the limit      │ succeeded, task in review
                                                                       └ limit reached: failed,
                                                                         task blocked
```
A succeeded attempt whose review asks for changes (or whose branch conflicts with the
base) runs again in its worktree, told why (`reopen`).
Steps, the CLI and the checks of a run go to the Celery queue of the host that holds
its worktree (`AgentRun.worker_queue`).

Every change to a run's status, lease or progress is made here; the step loop
(`agents.runtime`), the orchestrator, the external-agent protocol and the planner call
these functions. A task run's end settles its task and frees its agent in the same
transaction, records its metrics, and (except a cancel) asks for a dispatch once the
transaction commits; a coding attempt that goes to review also has its diff read ahead
for the reviewer (`REVIEW_DIFF_WARM_TASK`, agents.services.review_diffs). Status sets
live on the model: `AgentRun.ACTIVE_STATUSES` and `AgentRun.FINISHED_STATUSES`.

Locks are taken in one order everywhere: the agent, then the run, then the task.
"""

from agents.services.runs.delivery import (
    ATTEMPTS_AT_RETRY,
    DISPATCH_TASK,
    EXECUTOR_TASK,
    GENERATE_PLAN_TASK,
    LEASE_EXPIRED,
    PREPARE_TASK,
    REVIEW_DIFF_WARM_TASK,
    RUN_STEP_TASK,
    TURN_LIMIT,
    VERIFY_TASK,
    dispatch_after_commit,
    is_coding_run,
)
from agents.services.runs.ending import (
    run_cancel,
    run_expire,
    run_fail,
    run_finish,
    run_still_running,
)
from agents.services.runs.heartbeats import run_held_by_worker
from agents.services.runs.keys import run_key_issue, run_key_revoke
from agents.services.runs.leases import (
    run_heartbeat,
    run_lease_extend,
    run_lease_renew_claiming_step,
    run_lease_renew_for_step,
    run_links_attach,
    run_progress,
    run_stopped_check,
)
from agents.services.runs.reopen import (
    REOPENED_PROJECT_ARCHIVED,
    REOPENED_TASK_CHANGED,
    WAITS_FOR_AGENT,
    reopened_files_wait,
    reopened_stale,
    reopened_waiting,
    run_changes_requested,
    run_reopened_resume,
)
from agents.services.runs.retry import run_retry
from agents.services.runs.stages import (
    run_step_ended,
    run_take_stage,
    run_verified,
    run_work_done,
    run_workspace_ready,
    verify_feedback,
)
from agents.services.runs.start import (
    agent_run_create,
    run_open_for_claim,
    run_open_for_claim_unless_held,
    run_resume,
    run_start,
    run_take,
)
from agents.services.runs.sweeps import (
    stale_leases_expire,
    stale_runs_recover,
    stranded_reopened_cancel,
)

__all__ = [
    "ATTEMPTS_AT_RETRY",
    "DISPATCH_TASK",
    "EXECUTOR_TASK",
    "GENERATE_PLAN_TASK",
    "LEASE_EXPIRED",
    "PREPARE_TASK",
    "REOPENED_PROJECT_ARCHIVED",
    "REOPENED_TASK_CHANGED",
    "REVIEW_DIFF_WARM_TASK",
    "RUN_STEP_TASK",
    "TURN_LIMIT",
    "VERIFY_TASK",
    "WAITS_FOR_AGENT",
    "agent_run_create",
    "dispatch_after_commit",
    "is_coding_run",
    "reopened_files_wait",
    "reopened_stale",
    "reopened_waiting",
    "run_cancel",
    "run_changes_requested",
    "run_expire",
    "run_fail",
    "run_finish",
    "run_heartbeat",
    "run_held_by_worker",
    "run_key_issue",
    "run_key_revoke",
    "run_lease_extend",
    "run_lease_renew_claiming_step",
    "run_lease_renew_for_step",
    "run_links_attach",
    "run_open_for_claim",
    "run_open_for_claim_unless_held",
    "run_progress",
    "run_reopened_resume",
    "run_resume",
    "run_retry",
    "run_start",
    "run_step_ended",
    "run_still_running",
    "run_stopped_check",
    "run_take",
    "run_take_stage",
    "run_verified",
    "run_work_done",
    "run_workspace_ready",
    "stale_leases_expire",
    "stale_runs_recover",
    "stranded_reopened_cancel",
    "verify_feedback",
]
