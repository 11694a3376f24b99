from django.urls import path
from rest_framework.routers import SimpleRouter

from planning.api import chats, external, import_jobs, plan_files, views

app_name = "planning-api"

PROJECT = r"projects/(?P<project_slug>[-a-zA-Z0-9_]+)"
PROJECT_PATH = "projects/<slug:project_slug>"

router = SimpleRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register(f"{PROJECT}/members", views.MembershipViewSet, basename="member")
router.register(f"{PROJECT}/requirements", views.RequirementViewSet, basename="requirement")
router.register(f"{PROJECT}/features", views.FeatureViewSet, basename="feature")
router.register(f"{PROJECT}/sub-features", views.SubFeatureViewSet, basename="sub-feature")
router.register(f"{PROJECT}/tasks", views.TaskViewSet, basename="task")
router.register(
    f"{PROJECT}/task-dependencies", views.TaskDependencyViewSet, basename="task-dependency"
)
router.register(
    f"{PROJECT}/external-dependencies",
    external.ExternalDependencyViewSet,
    basename="external-dependency",
)
router.register(f"{PROJECT}/chats", chats.ChatSessionViewSet, basename="chat")

urlpatterns = [
    *router.urls,
    path(f"{PROJECT_PATH}/imports/", plan_files.PlanImportView.as_view(), name="plan-import"),
    path(
        f"{PROJECT_PATH}/imports/<int:pk>/",
        import_jobs.ImportJobDetailView.as_view(),
        name="import-job-detail",
    ),
    path(
        f"{PROJECT_PATH}/imports/<int:pk>/choice/",
        import_jobs.ImportJobChoiceView.as_view(),
        name="import-job-choice",
    ),
    path(
        f"{PROJECT_PATH}/analytics/", plan_files.PlanAnalyticsView.as_view(), name="plan-analytics"
    ),
    path(
        f"{PROJECT_PATH}/export/<str:fmt>/", plan_files.PlanExportView.as_view(), name="plan-export"
    ),
    path(f"{PROJECT_PATH}/versions/", plan_files.VersionListView.as_view(), name="version-list"),
    path(
        f"{PROJECT_PATH}/versions/<int:number>/",
        plan_files.VersionDetailView.as_view(),
        name="version-detail",
    ),
    path(
        f"{PROJECT_PATH}/versions/<int:number>/diff/",
        plan_files.VersionDiffView.as_view(),
        name="version-diff",
    ),
    path(
        f"{PROJECT_PATH}/versions/<int:number>/restore/",
        plan_files.VersionRestoreView.as_view(),
        name="version-restore",
    ),
    path(
        f"{PROJECT_PATH}/versions/<int:number>/export/<str:fmt>/",
        plan_files.VersionExportView.as_view(),
        name="version-export",
    ),
]
