"""Planning's API serializers, by topic; every one is importable from here."""

from planning.api.serializers.analytics import (
    AnalyticsCountsSerializer,
    FeatureProgressSerializer,
    PlanAnalyticsSerializer,
)
from planning.api.serializers.chats import (
    ChatMessageCreateSerializer,
    ConversationMessageSerializer,
    ConversationSessionDetailSerializer,
    ConversationSessionSerializer,
    GenerateRequestSerializer,
)
from planning.api.serializers.import_jobs import (
    ImportJobChoiceSerializer,
    ImportJobErrorSerializer,
    ImportJobSerializer,
)
from planning.api.serializers.plan_files import (
    DevPlanVersionDetailSerializer,
    DevPlanVersionSerializer,
    ImportErrorSerializer,
    PlanImportChoiceSerializer,
    PlanImportPreviewSerializer,
    PlanImportResultSerializer,
    PlanImportSerializer,
    PreviewChangedTaskSerializer,
    PreviewTaskPageSerializer,
    PreviewTaskSerializer,
    RestoreResultSerializer,
    VersionCreateSerializer,
)
from planning.api.serializers.projects import (
    NO_USER_TO_ADD,
    MembershipRoleSerializer,
    MembershipSerializer,
    ProjectSerializer,
)
from planning.api.serializers.rows import (
    FeatureSerializer,
    RequirementMoveSerializer,
    RequirementSerializer,
    SubFeatureSerializer,
    TaskDependencySerializer,
    TaskSerializer,
)

__all__ = [
    "NO_USER_TO_ADD",
    "AnalyticsCountsSerializer",
    "ChatMessageCreateSerializer",
    "ConversationMessageSerializer",
    "ConversationSessionDetailSerializer",
    "ConversationSessionSerializer",
    "DevPlanVersionDetailSerializer",
    "DevPlanVersionSerializer",
    "FeatureProgressSerializer",
    "FeatureSerializer",
    "GenerateRequestSerializer",
    "ImportErrorSerializer",
    "ImportJobChoiceSerializer",
    "ImportJobErrorSerializer",
    "ImportJobSerializer",
    "MembershipRoleSerializer",
    "MembershipSerializer",
    "PlanAnalyticsSerializer",
    "PlanImportChoiceSerializer",
    "PlanImportPreviewSerializer",
    "PlanImportResultSerializer",
    "PlanImportSerializer",
    "PreviewChangedTaskSerializer",
    "PreviewTaskPageSerializer",
    "PreviewTaskSerializer",
    "ProjectSerializer",
    "RequirementMoveSerializer",
    "RequirementSerializer",
    "RestoreResultSerializer",
    "SubFeatureSerializer",
    "TaskDependencySerializer",
    "TaskSerializer",
    "VersionCreateSerializer",
]
