"""Planning's models, by topic; every model is importable from here."""

from planning.models.conversations import (
    ConversationMessage,
    ConversationMessageRole,
    ConversationSession,
    ConversationSessionKind,
    ConversationSessionStatus,
)
from planning.models.features import (
    ExternalDependency,
    Feature,
    SubFeature,
    SubFeatureDependency,
    WorkStatus,
)
from planning.models.imports import ImportJob, ImportJobStatus
from planning.models.projects import (
    Executor,
    MergeStrategy,
    Priority,
    Project,
    ProjectMembership,
    ProjectMembershipRole,
    ProjectMode,
    ProjectStatus,
    Requirement,
    RequirementPriority,
    ReviewMode,
)
from planning.models.tasks import (
    PRIORITY_RANK,
    Task,
    TaskDependency,
    TaskSize,
    TaskStatus,
    TaskType,
)
from planning.models.versions import DevPlan, DevPlanVersion

__all__ = [
    "PRIORITY_RANK",
    "ConversationMessage",
    "ConversationMessageRole",
    "ConversationSession",
    "ConversationSessionKind",
    "ConversationSessionStatus",
    "DevPlan",
    "DevPlanVersion",
    "Executor",
    "ExternalDependency",
    "Feature",
    "ImportJob",
    "ImportJobStatus",
    "MergeStrategy",
    "Priority",
    "Project",
    "ProjectMembership",
    "ProjectMembershipRole",
    "ProjectMode",
    "ProjectStatus",
    "Requirement",
    "RequirementPriority",
    "ReviewMode",
    "SubFeature",
    "SubFeatureDependency",
    "Task",
    "TaskDependency",
    "TaskSize",
    "TaskStatus",
    "TaskType",
    "WorkStatus",
]
