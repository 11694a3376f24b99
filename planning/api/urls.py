from rest_framework.routers import SimpleRouter

from planning.api import views

app_name = "planning-api"

PROJECT = r"projects/(?P<project_slug>[-a-zA-Z0-9_]+)"

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

urlpatterns = router.urls
