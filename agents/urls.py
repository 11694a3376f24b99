from django.urls import path

from agents import views

app_name = "agents"

urlpatterns = [
    path("projects/<slug:slug>/", views.agent_list, name="agent-list"),
    path("projects/<slug:slug>/add/", views.agent_create, name="agent-create"),
    path("projects/<slug:slug>/<int:pk>/key/", views.agent_key_issue, name="agent-key"),
    path("projects/<slug:slug>/run/", views.project_run_start, name="project-run-start"),
    path("projects/<slug:slug>/pause/", views.project_run_pause, name="project-run-pause"),
    path("projects/<slug:slug>/cancel/", views.project_run_cancel, name="project-run-cancel"),
    path("projects/<slug:slug>/runs/", views.run_list, name="run-list"),
    path("projects/<slug:slug>/runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("projects/<slug:slug>/runs/<int:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path("projects/<slug:slug>/runs/<int:run_id>/retry/", views.run_retry, name="run-retry"),
    path("projects/<slug:slug>/activity/", views.activity, name="activity"),
    path("projects/<slug:slug>/metrics/", views.metrics, name="metrics"),
    path("projects/<slug:slug>/inbox/", views.inbox, name="inbox"),
    path("projects/<slug:slug>/inbox/count/", views.inbox_count, name="inbox-count"),
    path(
        "projects/<slug:slug>/inbox/<int:task_id>/answer/",
        views.inbox_answer,
        name="inbox-answer",
    ),
    path("projects/<slug:slug>/checkpoints/", views.checkpoint_list, name="checkpoint-list"),
    path(
        "projects/<slug:slug>/checkpoints/<int:pk>/diff/",
        views.checkpoint_diff,
        name="checkpoint-diff",
    ),
    path(
        "projects/<slug:slug>/checkpoints/<int:pk>/restore/",
        views.checkpoint_restore,
        name="checkpoint-restore",
    ),
]
