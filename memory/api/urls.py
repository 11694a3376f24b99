from rest_framework.routers import SimpleRouter

from memory.api import views

app_name = "memory-api"

PROJECT = r"projects/(?P<project_slug>[-a-zA-Z0-9_]+)"

router = SimpleRouter()
router.register(f"{PROJECT}/memory-facts", views.MemoryFactViewSet, basename="memory-fact")

urlpatterns = router.urls
