from django.urls import path

from agents.views import (
    activity,
    agents,
    checkpoints,
    inbox,
    planner,
    review_diff,
    reviews,
    run_logs,
    runs,
    task_record,
    tool_calls,
)

app_name = "agents"

urlpatterns = [
    path("projects/<slug:slug>/", agents.agent_list, name="agent-list"),
    path("projects/<slug:slug>/add/", agents.agent_create, name="agent-create"),
    path("projects/<slug:slug>/<int:pk>/key/", agents.agent_key_issue, name="agent-key"),
    path("projects/<slug:slug>/<int:pk>/executor/", agents.agent_executor, name="agent-executor"),
    path("projects/<slug:slug>/run/", runs.project_run_start, name="project-run-start"),
    path("projects/<slug:slug>/pause/", runs.project_run_pause, name="project-run-pause"),
    path("projects/<slug:slug>/cancel/", runs.project_run_cancel, name="project-run-cancel"),
    path("projects/<slug:slug>/runs/", runs.run_list, name="run-list"),
    path("projects/<slug:slug>/runs/<int:run_id>/", runs.run_detail, name="run-detail"),
    path("projects/<slug:slug>/runs/<int:run_id>/cancel/", runs.run_cancel, name="run-cancel"),
    path("projects/<slug:slug>/runs/<int:run_id>/retry/", runs.run_retry, name="run-retry"),
    path("projects/<slug:slug>/runs/<int:run_id>/log/", run_logs.run_log, name="run-log"),
    path(
        "projects/<slug:slug>/runs/<int:run_id>/log.txt",
        run_logs.run_log_text,
        name="run-log-text",
    ),
    path("projects/<slug:slug>/runs/<int:run_id>/diff/", run_logs.run_diff, name="run-diff"),
    path(
        "projects/<slug:slug>/runs/<int:run_id>/calls/<int:call_id>/",
        runs.run_tool_call,
        name="run-tool-call",
    ),
    path("projects/<slug:slug>/activity/", activity.activity, name="activity"),
    path("projects/<slug:slug>/tool-calls/", tool_calls.tool_call_search, name="tool-calls"),
    path("projects/<slug:slug>/metrics/", activity.metrics, name="metrics"),
    path("projects/<slug:slug>/inbox/", inbox.inbox, name="inbox"),
    path("projects/<slug:slug>/inbox/count/", inbox.inbox_count, name="inbox-count"),
    path(
        "projects/<slug:slug>/inbox/<int:task_id>/retry/",
        inbox.inbox_blocked_task,
        {"action": "retry"},
        name="inbox-task-retry",
    ),
    path(
        "projects/<slug:slug>/inbox/<int:task_id>/abandon/",
        inbox.inbox_blocked_task,
        {"action": "abandon"},
        name="inbox-task-abandon",
    ),
    path(
        "projects/<slug:slug>/inbox/<int:task_id>/answer/",
        inbox.inbox_answer,
        name="inbox-answer",
    ),
    path("projects/<slug:slug>/tasks/<str:key>/review/", reviews.task_review, name="task-review"),
    path(
        "projects/<slug:slug>/tasks/<path:key>/record/",
        task_record.task_record_view,
        name="task-record",
    ),
    path(
        "projects/<slug:slug>/tasks/<str:key>/review/comment-form/",
        review_diff.review_comment_form,
        name="review-comment-form",
    ),
    path(
        "projects/<slug:slug>/tasks/<str:key>/review/comments/",
        reviews.review_comment_add,
        name="review-comment-add",
    ),
    path(
        "projects/<slug:slug>/tasks/<str:key>/review/comments/<int:index>/remove/",
        reviews.review_comment_remove,
        name="review-comment-remove",
    ),
    path(
        "projects/<slug:slug>/tasks/<str:key>/review/submit/",
        reviews.review_submit,
        name="review-submit",
    ),
    path(
        "projects/<slug:slug>/tasks/<str:key>/review/merge/",
        reviews.review_merge_retry,
        name="review-merge",
    ),
    path(
        "projects/<slug:slug>/checkpoints/",
        checkpoints.checkpoint_list,
        name="checkpoint-list",
    ),
    path(
        "projects/<slug:slug>/checkpoints/<int:pk>/diff/",
        checkpoints.checkpoint_diff,
        name="checkpoint-diff",
    ),
    path(
        "projects/<slug:slug>/checkpoints/<int:pk>/restore/",
        checkpoints.checkpoint_restore,
        name="checkpoint-restore",
    ),
]

# The planning agent's pages sit beside the plan's pages, under projects/<slug>/.
planner_urlpatterns = (
    [
        path("projects/<slug:slug>/generate/", planner.plan_generate, name="plan-generate"),
        path("projects/<slug:slug>/plan-run/", planner.plan_run, name="plan-run"),
        path(
            "projects/<slug:slug>/runs/<int:run_id>/retry-generation/",
            planner.plan_retry,
            name="plan-retry",
        ),
        path(
            "projects/<slug:slug>/runs/<int:run_id>/progress/",
            planner.run_progress,
            name="run-progress",
        ),
        path(
            "projects/<slug:slug>/chat/<int:session_id>/messages/",
            planner.chat_message_create,
            name="chat-message-create",
        ),
    ],
    "planner",
)
