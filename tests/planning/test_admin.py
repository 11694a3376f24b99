from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from planning.models import (
    ConversationMessage,
    ConversationSession,
    DevPlan,
    DevPlanVersion,
    Feature,
    Project,
    ProjectMembership,
    Requirement,
    SubFeature,
    SubFeatureDependency,
    Task,
    TaskDependency,
)
from tests.factories import (
    AgentFactory,
    FeatureFactory,
    MembershipFactory,
    ProjectFactory,
    RequirementFactory,
    SubFeatureFactory,
    TaskDependencyFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _sub_feature_dependency() -> SubFeatureDependency:
    sub = SubFeatureFactory()
    other = SubFeatureFactory(feature=sub.feature, project=sub.project)
    return SubFeatureDependency.objects.create(sub_feature=sub, depends_on=other)


def _dev_plan_version() -> DevPlanVersion:
    plan = DevPlan.objects.create(project=ProjectFactory())
    return DevPlanVersion.objects.create(
        plan=plan, number=1, snapshot={"features": []}, change_summary="First cut"
    )


def _conversation_message() -> ConversationMessage:
    session = ConversationSession.objects.create(project=ProjectFactory(), title="Kick-off")
    return ConversationMessage.objects.create(session=session, role="user", content="Hello")


def _task() -> Task:
    sub = SubFeatureFactory()
    return TaskFactory(
        project=sub.project,
        feature=sub.feature,
        sub_feature=sub,
        assigned_agent=AgentFactory(project=sub.project),
    )


# Each builder makes one row with its own related rows, so a missing join shows as N+1.
BUILDERS: dict[type[Model], Callable[[], Model]] = {
    Project: ProjectFactory,
    ProjectMembership: MembershipFactory,
    Requirement: RequirementFactory,
    Feature: FeatureFactory,
    SubFeature: SubFeatureFactory,
    SubFeatureDependency: _sub_feature_dependency,
    Task: _task,
    TaskDependency: TaskDependencyFactory,
    DevPlan: lambda: DevPlan.objects.create(project=ProjectFactory()),
    DevPlanVersion: _dev_plan_version,
    ConversationSession: lambda: ConversationSession.objects.create(project=ProjectFactory()),
    ConversationMessage: _conversation_message,
}
ADDABLE = [model for model in BUILDERS if model is not DevPlanVersion]


def admin_url(model: type[Model] | Model, view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def form_data(response: Any) -> dict[str, Any]:
    """The POST body a browser would send back for an admin change form, unchanged."""
    forms = [response.context["adminform"].form]
    data: dict[str, Any] = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        forms += formset.forms
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False:
                continue
            data[field.html_name] = "on" if value is True else value
    return data


@pytest.mark.parametrize("model", BUILDERS, ids=lambda m: m.__name__)
def test_changelist_lists_rows(admin_client, model):
    rows = [BUILDERS[model]() for _ in range(3)]

    response = admin_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    listed = {obj.pk for obj in response.context["cl"].result_list}
    assert {row.pk for row in rows} <= listed
    assert admin_url(model, "change", rows[0].pk) in response.content.decode()


@pytest.mark.parametrize("model", BUILDERS, ids=lambda m: m.__name__)
def test_change_view_shows_the_row(admin_client, model):
    row = BUILDERS[model]()

    response = admin_client.get(admin_url(model, "change", row.pk))

    assert response.status_code == 200
    assert response.context["original"].pk == row.pk


@pytest.mark.parametrize("model", ADDABLE, ids=lambda m: m.__name__)
def test_add_page_renders(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 200


@pytest.mark.parametrize("model", BUILDERS, ids=lambda m: m.__name__)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, model
):
    for _ in range(3):
        BUILDERS[model]()
    url = admin_url(model, "changelist")
    admin_client.get(url)
    with CaptureQueriesContext(connection) as baseline:
        admin_client.get(url)
    for _ in range(12):
        BUILDERS[model]()

    with django_assert_max_num_queries(len(baseline)):
        response = admin_client.get(url)
    assert response.context["cl"].result_count >= 15


def test_task_changelist_queries_are_constant_for_5_and_50_tasks(
    admin_client, django_assert_max_num_queries
):
    for _ in range(5):
        _task()
    url = admin_url(Task, "changelist")
    admin_client.get(url)
    with CaptureQueriesContext(connection) as five:
        admin_client.get(url)
    for _ in range(45):
        _task()

    with django_assert_max_num_queries(len(five)):
        response = admin_client.get(url)
    assert len(response.context["cl"].result_list) == 50


def test_adding_a_project_makes_its_owner_a_member(admin_client):
    owner = UserFactory(username="olivia")

    response = admin_client.post(
        admin_url(Project, "add"),
        {
            "name": "Fleet",
            "slug": "fleet",
            "owner": owner.pk,
            "mode": "genesis",
            "status": "planning",
            "base_branch": "main",
            "max_concurrent_runs": 2,
            "max_qa_iterations": 3,
            "default_executor": "builtin",
            "review": "human",
            "merge_strategy": "squash",
            "enabled_tools": "[]",
        },
    )

    assert response.status_code == 302
    project = Project.objects.get(slug="fleet")
    assert response.url == admin_url(Project, "changelist")
    assert project.owner == owner
    membership = ProjectMembership.objects.get(project=project)
    assert (membership.user, membership.role) == (owner, "owner")


def test_project_cannot_be_left_without_an_owner(admin_client, project):
    url = admin_url(Project, "change", project.pk)
    data = form_data(admin_client.get(url))
    assert data["memberships-0-role"] == "owner"
    data["memberships-0-role"] = "viewer"

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "A project needs at least one owner." in response.content.decode()
    assert project.memberships.get().role == "owner"


def test_mark_done_action_completes_the_selected_tasks(admin_client, project):
    chosen = [TaskFactory(project=project), TaskFactory(project=project, status="in_progress")]
    untouched = TaskFactory(project=project)

    response = admin_client.post(
        admin_url(Task, "changelist"),
        {"action": "mark_done", ACTION_CHECKBOX_NAME: [t.pk for t in chosen], "index": 0},
    )

    assert response.status_code == 302
    for task in chosen:
        task.refresh_from_db()
        assert task.status == Task.Status.DONE
        assert task.completed_at is not None
    untouched.refresh_from_db()
    assert (untouched.status, untouched.completed_at) == ("pending", None)


@pytest.mark.parametrize("parent", ["sub_feature", "feature"])
def test_tasks_are_listed_under_their_feature_and_sub_feature(admin_client, parent):
    task = _task()
    stranger = _task()

    container = getattr(task, parent)
    response = admin_client.get(admin_url(container, "change", container.pk))

    content = response.content.decode()
    assert admin_url(Task, "change", task.pk) in content
    assert admin_url(Task, "change", stranger.pk) not in content


def test_task_dependency_that_closes_a_cycle_is_refused(admin_client, project):
    a, b = TaskFactory(project=project, key="A"), TaskFactory(project=project, key="B")
    TaskDependency.objects.create(task=a, depends_on=b)

    response = admin_client.post(
        admin_url(TaskDependency, "add"), {"task": b.pk, "depends_on": a.pk}
    )

    assert response.status_code == 200
    assert "B -&gt; A -&gt; B" in response.content.decode()
    assert TaskDependency.objects.count() == 1


def test_task_dependency_is_added(admin_client, project):
    a, b = TaskFactory(project=project, key="A"), TaskFactory(project=project, key="B")

    response = admin_client.post(
        admin_url(TaskDependency, "add"), {"task": a.pk, "depends_on": b.pk}
    )

    assert response.status_code == 302
    assert list(a.depends_on.all()) == [b]


def test_sub_feature_dependency_that_closes_a_cycle_is_refused(admin_client):
    edge = _sub_feature_dependency()

    response = admin_client.post(
        admin_url(SubFeatureDependency, "add"),
        {"sub_feature": edge.depends_on.pk, "depends_on": edge.sub_feature.pk},
    )

    assert response.status_code == 200
    assert "would close a cycle" in response.content.decode()
    assert SubFeatureDependency.objects.count() == 1


class TestDevPlanVersionIsImmutable:
    def test_add_is_forbidden(self, admin_client):
        assert admin_client.get(admin_url(DevPlanVersion, "add")).status_code == 403

    def test_posting_a_change_is_forbidden_and_alters_nothing(self, admin_client):
        version = _dev_plan_version()

        response = admin_client.post(
            admin_url(version, "change", version.pk),
            {"number": 7, "change_summary": "Rewritten", "markdown": "# new"},
        )

        assert response.status_code == 403
        version.refresh_from_db()
        assert (version.number, version.change_summary) == (1, "First cut")

    def test_delete_is_forbidden(self, admin_client):
        version = _dev_plan_version()
        url = admin_url(version, "delete", version.pk)

        assert admin_client.get(url).status_code == 403
        assert admin_client.post(url, {"post": "yes"}).status_code == 403
        assert DevPlanVersion.objects.filter(pk=version.pk).exists()

    def test_versions_are_listed_read_only_under_their_plan(self, admin_client):
        version = _dev_plan_version()

        response = admin_client.get(admin_url(DevPlan, "change", version.plan.pk))

        [inline] = response.context["inline_admin_formsets"]
        assert inline.formset.model is DevPlanVersion
        assert not (inline.has_add_permission or inline.has_change_permission)
        assert not inline.has_delete_permission
        assert "First cut" in response.content.decode()


@pytest.mark.parametrize("where", ["task", "feature's task rows"])
def test_task_statuses_changed_in_the_admin_roll_up(admin_client, where):
    task = _task()
    sub, feature = task.sub_feature, task.feature
    if where == "task":
        url = admin_url(Task, "change", task.pk)
        data = form_data(admin_client.get(url))
        data["status"] = "done"
    else:
        url = admin_url(Feature, "change", feature.pk)
        data = form_data(admin_client.get(url))
        data["tasks-0-status"] = "done"

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    sub.refresh_from_db()
    feature.refresh_from_db()
    assert (sub.status, feature.status) == ("done", "done")


def test_a_status_set_on_a_feature_in_the_admin_stands_until_its_tasks_change(admin_client):
    task = _task()
    url = admin_url(Feature, "change", task.feature_id)
    data = form_data(admin_client.get(url))
    data["status"] = "cancelled"

    assert admin_client.post(url, data).status_code == 302

    assert Feature.objects.get(pk=task.feature_id).status == "cancelled"


@pytest.mark.django_db
def test_admin_index_names_every_model_in_plain_english(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "Sub-feature dependencies" in html
    assert "Task dependencies" in html
    assert "Sub-features" in html
    assert "dependencys" not in html.lower()
