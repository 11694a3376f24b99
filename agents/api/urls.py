from django.urls import path
from rest_framework.routers import SimpleRouter

from agents.api import (
    agent_memory,
    agent_plan,
    external,
    orchestration,
    planner,
    reviews,
    run_reports,
    views,
)

app_name = "agents-api"

PROJECT = r"projects/(?P<project_slug>[-a-zA-Z0-9_]+)"

router = SimpleRouter()
router.register(f"{PROJECT}/agents", views.AgentViewSet, basename="agent")
router.register(f"{PROJECT}/agent-runs", views.AgentRunViewSet, basename="agent-run")
router.register(f"{PROJECT}/tool-calls", views.ToolCallViewSet, basename="tool-call")
router.register(f"{PROJECT}/planning-cycles", views.PlanningCycleViewSet, basename="planning-cycle")
router.register(f"{PROJECT}/decisions", views.DecisionViewSet, basename="decision")
router.register(f"{PROJECT}/metrics", views.MetricViewSet, basename="metric")
router.register(f"{PROJECT}/checkpoints", views.CheckpointViewSet, basename="checkpoint")
router.register(f"{PROJECT}/agent-state", views.AgentStateViewSet, basename="agent-state")

urlpatterns = [
    path(
        "projects/<slug:project_slug>/tool-calls/<int:pk>/complete/",
        views.ToolCallCompleteView.as_view(),
        name="tool-call-complete",
    ),
    path(
        "projects/<slug:project_slug>/planning-cycles/<int:pk>/close/",
        views.PlanningCycleCloseView.as_view(),
        name="planning-cycle-close",
    ),
    *router.urls,
]

# The agent-key endpoints go first: `agents/heartbeat/` would otherwise resolve as the
# detail route of an agent with the id "heartbeat".
PROJECT_PATH = "projects/<slug:project_slug>"
RUN_PATH = f"{PROJECT_PATH}/runs/<int:run_id>"
# What an agent reads and changes with its key, apart from the person-facing routes.
AGENT_PATH = f"{PROJECT_PATH}/agent"
AGENT_TASK_PATH = f"{AGENT_PATH}/tasks/<str:key>"
urlpatterns = [
    path(
        f"{PROJECT_PATH}/agents/heartbeat/",
        external.AgentHeartbeatView.as_view(),
        name="agent-heartbeat",
    ),
    path(
        f"{PROJECT_PATH}/agents/<int:pk>/key/",
        external.AgentKeyIssueView.as_view(),
        name="agent-key",
    ),
    path(f"{PROJECT_PATH}/tasks/claim/", external.TaskClaimView.as_view(), name="task-claim"),
    path(f"{AGENT_PATH}/plan/", agent_plan.AgentPlanView.as_view(), name="agent-plan"),
    path(
        f"{AGENT_PATH}/generate/",
        agent_plan.AgentPlanGenerateView.as_view(),
        name="agent-plan-generate",
    ),
    path("agent/", agent_plan.AgentWhoAmIView.as_view(), name="agent-whoami"),
    path(
        f"{AGENT_PATH}/analytics/",
        agent_plan.AgentAnalyticsView.as_view(),
        name="agent-analytics",
    ),
    path(f"{AGENT_PATH}/tasks/", agent_plan.AgentTaskListView.as_view(), name="agent-tasks"),
    path(
        f"{AGENT_PATH}/tasks/next/",
        agent_plan.AgentTaskNextView.as_view(),
        name="agent-task-next",
    ),
    path(
        f"{AGENT_TASK_PATH}/",
        agent_plan.AgentTaskDetailView.as_view(),
        name="agent-task",
    ),
    path(
        f"{AGENT_TASK_PATH}/status/",
        agent_plan.AgentTaskStatusView.as_view(),
        name="agent-task-status",
    ),
    path(
        f"{AGENT_TASK_PATH}/subtasks/",
        agent_plan.AgentSubtaskView.as_view(),
        name="agent-subtasks",
    ),
    path(
        f"{AGENT_TASK_PATH}/expand/",
        agent_plan.AgentTaskExpandView.as_view(),
        name="agent-task-expand",
    ),
    path(
        f"{AGENT_TASK_PATH}/dependencies/",
        agent_plan.AgentDependencyListView.as_view(),
        name="agent-dependencies",
    ),
    path(
        f"{AGENT_TASK_PATH}/dependencies/<str:depends_on>/",
        agent_plan.AgentDependencyDetailView.as_view(),
        name="agent-dependency",
    ),
    path(f"{AGENT_PATH}/memory/", agent_memory.AgentMemoryView.as_view(), name="agent-memory"),
    path(f"{AGENT_PATH}/state/", agent_memory.AgentStateListView.as_view(), name="agent-state"),
    path(
        f"{AGENT_PATH}/state/<str:key>/",
        agent_memory.AgentStateDetailView.as_view(),
        name="agent-state-entry",
    ),
    path(
        f"{AGENT_PATH}/questions/<str:key>/",
        agent_memory.AgentQuestionView.as_view(),
        name="agent-question",
    ),
    path(f"{RUN_PATH}/questions/", agent_memory.RunQuestionsView.as_view(), name="run-questions"),
    path(f"{RUN_PATH}/tool-calls/", run_reports.RunToolCallsView.as_view(), name="run-tool-calls"),
    path(f"{RUN_PATH}/decisions/", run_reports.RunDecisionsView.as_view(), name="run-decisions"),
    path(f"{RUN_PATH}/metrics/", run_reports.RunMetricsView.as_view(), name="run-metrics"),
    path(f"{RUN_PATH}/complete/", external.RunCompleteView.as_view(), name="run-complete"),
    path(f"{RUN_PATH}/fail/", external.RunFailView.as_view(), name="run-fail"),
    path(f"{PROJECT_PATH}/run/", orchestration.ProjectRunView.as_view(), name="project-run"),
    path(
        f"{PROJECT_PATH}/tasks/<str:key>/review/",
        reviews.TaskReviewView.as_view(),
        name="task-review",
    ),
    path(f"{PROJECT_PATH}/generate/", planner.PlanGenerateView.as_view(), name="plan-generate"),
    path(
        f"{PROJECT_PATH}/tasks/<str:key>/expand/",
        planner.TaskExpandView.as_view(),
        name="task-expand",
    ),
    path(
        f"{PROJECT_PATH}/generate/<int:run_id>/retry/",
        planner.PlanGenerateRetryView.as_view(),
        name="plan-generate-retry",
    ),
    # Planning's chat routes (`chats/...`) hold the sessions; the agent answers here.
    path(
        f"{PROJECT_PATH}/chats/<int:id>/messages/",
        planner.ChatMessageSendView.as_view(),
        name="chat-send",
    ),
    path(
        f"{PROJECT_PATH}/agent-runs/<int:pk>/cancel/",
        orchestration.RunCancelView.as_view(),
        name="agent-run-cancel",
    ),
    path(
        f"{PROJECT_PATH}/agent-runs/<int:pk>/retry/",
        orchestration.RunRetryView.as_view(),
        name="agent-run-retry",
    ),
    path(
        f"{PROJECT_PATH}/human-checkpoints/",
        orchestration.HumanCheckpointListView.as_view(),
        name="human-checkpoint-list",
    ),
    path(
        f"{PROJECT_PATH}/human-checkpoints/<str:key>/answer/",
        orchestration.HumanCheckpointAnswerView.as_view(),
        name="human-checkpoint-answer",
    ),
    *urlpatterns,
]
