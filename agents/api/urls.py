from django.urls import path
from rest_framework.routers import SimpleRouter

from agents.api import views

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
