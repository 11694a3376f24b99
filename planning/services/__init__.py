"""Write-side operations for planning. Every function is one transaction.

One module per subdomain. What the other apps call is importable from here: projects
and their members, the plan's items (requirements, features, sub-features, tasks and
their dependencies), claiming the next ready task, and rolling task statuses up into
their features, sub-features and project (for writers of many tasks at once). The
rest is imported from its own module: `plans` (applying a plan document), `versions`,
`imports` and `chat`.
"""

from planning.services._common import PlanError, plan_rows_deleted
from planning.services.board import task_assign, task_move
from planning.services.claims import (
    ClaimedTask,
    ClaimFilesTaken,
    task_claim_next,
    task_files,
    task_files_reserve,
    tasks_files_reserve,
)
from planning.services.external import external_dependency_set_satisfied
from planning.services.items import (
    feature_create,
    feature_delete,
    feature_update,
    requirement_create,
    requirement_delete,
    requirement_update,
    sub_feature_create,
    sub_feature_delete,
    sub_feature_update,
)
from planning.services.projects import (
    PROJECT_FIELDS,
    membership_remove,
    membership_set,
    project_create,
    project_delete,
    project_update,
)
from planning.services.rollup import RollupResult, plan_status_rollup
from planning.services.task_items import (
    task_add_dependency,
    task_create,
    task_delete,
    task_remove_dependency,
    task_set_status,
    task_update,
)
from planning.services.task_work import (
    CLOSED_STATUSES,
    task_merged,
    task_qa_iteration_add,
    task_release,
    task_worktree_set,
)

__all__ = [
    "CLOSED_STATUSES",
    "PROJECT_FIELDS",
    "ClaimFilesTaken",
    "ClaimedTask",
    "PlanError",
    "RollupResult",
    "external_dependency_set_satisfied",
    "feature_create",
    "feature_delete",
    "feature_update",
    "membership_remove",
    "membership_set",
    "plan_rows_deleted",
    "plan_status_rollup",
    "project_create",
    "project_delete",
    "project_update",
    "requirement_create",
    "requirement_delete",
    "requirement_update",
    "sub_feature_create",
    "sub_feature_delete",
    "sub_feature_update",
    "task_add_dependency",
    "task_assign",
    "task_claim_next",
    "task_create",
    "task_delete",
    "task_files",
    "task_files_reserve",
    "task_merged",
    "task_move",
    "task_qa_iteration_add",
    "task_release",
    "task_remove_dependency",
    "task_set_status",
    "task_update",
    "task_worktree_set",
    "tasks_files_reserve",
]
