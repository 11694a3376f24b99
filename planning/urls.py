from django.urls import path
from django.views.generic import RedirectView

from planning import views

app_name = "planning"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="planning:project-list"), name="home"),
    path("projects/", views.project_list, name="project-list"),
    path("projects/<slug:slug>/", views.project_detail, name="project-detail"),
    # Task keys carry dots and dashes ("01-08-T2", "12.3"), so match anything but "/".
    path(
        "projects/<slug:slug>/tasks/<str:key>/status/",
        views.task_status,
        name="task-status",
    ),
]
