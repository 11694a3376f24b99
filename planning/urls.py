from django.urls import path
from django.views.generic import RedirectView

from planning.views import (
    analytics,
    board,
    chat,
    imports,
    live,
    members,
    plan,
    plan_edit,
    plan_edit_tasks,
    projects,
    requirements,
    settings,
    tasks,
    versions,
)

app_name = "planning"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="planning:project-list"), name="home"),
    path("projects/", projects.project_list, name="project-list"),
    path("projects/<slug:slug>/", projects.project_detail, name="project-detail"),
    # Task keys carry dots, dashes and, from imported tags, even slashes ("01-08-T2",
    # "12.3", "feature/auth:1"); the fixed "/status/" suffix still ends the key.
    path(
        "projects/<slug:slug>/tasks/<path:key>/status/",
        projects.task_status,
        name="task-status",
    ),
    path(
        "projects/<slug:slug>/tasks/<path:key>/move/",
        board.task_move,
        name="task-move",
    ),
    path("projects/<slug:slug>/board/", board.project_board, name="project-board"),
    path("projects/<slug:slug>/live/", live.project_live, name="project-live"),
    path(
        "projects/<slug:slug>/tasks/<path:key>/edit/",
        tasks.task_edit,
        name="task-edit",
    ),
    path(
        "projects/<slug:slug>/tasks/<path:key>/assign/",
        tasks.task_assign,
        name="task-assign",
    ),
    path(
        "projects/<slug:slug>/tasks/<path:key>/subtasks/",
        tasks.task_subtask_add,
        name="task-subtask-add",
    ),
    path(
        "projects/<slug:slug>/tasks/<path:key>/dependencies/",
        tasks.task_dependency_add,
        name="task-dependency-add",
    ),
    path(
        "projects/<slug:slug>/tasks/<path:key>/external-dependencies/<int:pk>/",
        tasks.task_external_dependency_set,
        name="task-external-dependency-set",
    ),
    path(
        "projects/<slug:slug>/tasks/<path:key>/dependencies/<int:pk>/remove/",
        tasks.task_dependency_remove,
        name="task-dependency-remove",
    ),
    path(
        "projects/<slug:slug>/plan/features/<int:pk>/",
        plan.plan_feature,
        name="plan-feature",
    ),
    path("projects/<slug:slug>/plan/tasks/", plan.plan_tasks, name="plan-tasks"),
    # Editing the plan from its page.
    path("projects/<slug:slug>/plan/features/add/", plan_edit.feature_add, name="plan-feature-add"),
    path(
        "projects/<slug:slug>/plan/features/<int:pk>/edit/",
        plan_edit.feature_edit,
        name="plan-feature-edit",
    ),
    path(
        "projects/<slug:slug>/plan/features/<int:pk>/move/",
        plan_edit.feature_move,
        name="plan-feature-move",
    ),
    path(
        "projects/<slug:slug>/plan/features/<int:pk>/delete/",
        plan_edit.feature_delete,
        name="plan-feature-delete",
    ),
    path(
        "projects/<slug:slug>/plan/features/<int:pk>/sub-features/add/",
        plan_edit.sub_feature_add,
        name="plan-sub-feature-add",
    ),
    path(
        "projects/<slug:slug>/plan/sub-features/<int:pk>/edit/",
        plan_edit.sub_feature_edit,
        name="plan-sub-feature-edit",
    ),
    path(
        "projects/<slug:slug>/plan/sub-features/<int:pk>/move/",
        plan_edit.sub_feature_move,
        name="plan-sub-feature-move",
    ),
    path(
        "projects/<slug:slug>/plan/sub-features/<int:pk>/delete/",
        plan_edit.sub_feature_delete,
        name="plan-sub-feature-delete",
    ),
    path("projects/<slug:slug>/plan/tasks/add/", plan_edit_tasks.task_add, name="plan-task-add"),
    path(
        "projects/<slug:slug>/plan/tasks/<int:pk>/edit/",
        plan_edit_tasks.task_edit,
        name="plan-task-edit",
    ),
    path(
        "projects/<slug:slug>/plan/tasks/<int:pk>/move/",
        plan_edit_tasks.task_move,
        name="plan-task-move",
    ),
    path(
        "projects/<slug:slug>/plan/tasks/<int:pk>/delete/",
        plan_edit_tasks.task_delete,
        name="plan-task-delete",
    ),
    path(
        "projects/<slug:slug>/requirements/",
        requirements.requirement_list,
        name="requirement-list",
    ),
    path(
        "projects/<slug:slug>/requirements/add/",
        requirements.requirement_add,
        name="requirement-add",
    ),
    path(
        "projects/<slug:slug>/requirements/<int:pk>/edit/",
        requirements.requirement_edit,
        name="requirement-edit",
    ),
    path(
        "projects/<slug:slug>/requirements/<int:pk>/delete/",
        requirements.requirement_delete,
        name="requirement-delete",
    ),
    path(
        "projects/<slug:slug>/requirements/<int:pk>/move/",
        requirements.requirement_move,
        name="requirement-move",
    ),
    path(
        "projects/<slug:slug>/requirements/<int:pk>/features/",
        requirements.requirement_link,
        name="requirement-link",
    ),
    path(
        "projects/<slug:slug>/requirements/<int:pk>/features/<int:feature_pk>/unlink/",
        requirements.requirement_unlink,
        name="requirement-unlink",
    ),
    path("projects/<slug:slug>/settings/", settings.project_settings, name="project-settings"),
    path("projects/<slug:slug>/members/", members.member_list, name="project-members"),
    path("projects/<slug:slug>/members/add/", members.member_add, name="project-member-add"),
    path(
        "projects/<slug:slug>/members/<int:membership_id>/role/",
        members.member_role,
        name="project-member-role",
    ),
    path(
        "projects/<slug:slug>/members/<int:membership_id>/remove/",
        members.member_remove,
        name="project-member-remove",
    ),
    path("projects/<slug:slug>/analytics/", analytics.project_analytics, name="project-analytics"),
    path("projects/<slug:slug>/import/", imports.project_import, name="project-import"),
    path(
        "projects/<slug:slug>/imports/<int:job_id>/",
        imports.import_job_detail,
        name="import-job",
    ),
    path(
        "projects/<slug:slug>/imports/<int:job_id>/choice/",
        imports.import_job_choice,
        name="import-job-choice",
    ),
    path("projects/<slug:slug>/export/<str:fmt>/", versions.project_export, name="project-export"),
    path("projects/<slug:slug>/versions/", versions.version_list, name="version-list"),
    path("projects/<slug:slug>/versions/diff/", versions.version_diff, name="version-diff"),
    path(
        "projects/<slug:slug>/versions/<int:number>/",
        versions.version_detail,
        name="version-detail",
    ),
    path(
        "projects/<slug:slug>/versions/<int:number>/restore/",
        versions.version_restore_form,
        name="version-restore",
    ),
    path(
        "projects/<slug:slug>/versions/<int:number>/export/<str:fmt>/",
        versions.version_export,
        name="version-export",
    ),
    path("projects/<slug:slug>/chat/", chat.chat_list, name="chat-list"),
    path(
        "projects/<slug:slug>/chat/<int:session_id>/",
        chat.chat_detail,
        name="chat-detail",
    ),
    path(
        "projects/<slug:slug>/chat/<int:session_id>/messages/<int:message_id>/apply/",
        chat.chat_message_apply,
        name="chat-message-apply",
    ),
    path(
        "projects/<slug:slug>/chat/<int:session_id>/messages/<int:message_id>/discard/",
        chat.chat_message_discard,
        name="chat-message-discard",
    ),
    # Last: a key may hold slashes, so the task's page must not shadow the paths above.
    path("projects/<slug:slug>/tasks/<path:key>/", tasks.task_detail, name="task-detail"),
]
