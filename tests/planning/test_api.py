import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from planning.models import (
    Feature,
    Project,
    ProjectMembership,
    Requirement,
    Task,
    TaskDependency,
)
from tests.factories import (
    FeatureFactory,
    RequirementFactory,
    SubFeatureFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/crewboard"


def _bulk_tasks(project, count):
    feature = FeatureFactory(project=project, key="01")
    sub = SubFeatureFactory(feature=feature, key="01-01")
    tasks = Task.objects.bulk_create(
        Task(project=project, feature=feature, sub_feature=sub, key=f"T{i:04d}", name=f"t{i}")
        for i in range(count)
    )
    TaskDependency.objects.bulk_create(
        TaskDependency(task=tasks[i], depends_on=tasks[i - 1]) for i in range(1, count)
    )


# Projects and members ---------------------------------------------------------------


def test_create_project_makes_caller_owner(api, user):
    response = api.post("/api/v1/projects/", {"name": "Fleet", "mode": "evolution"})
    assert response.status_code == 201, response.data
    assert response.data["slug"] == "fleet"
    assert response.data["owner"] == user.username
    assert ProjectMembership.objects.get(project__slug="fleet").role == "owner"


def test_create_project_with_bad_input_is_400_and_writes_nothing(api, project):
    response = api.post("/api/v1/projects/", {"name": "Dup", "slug": project.slug})
    assert response.status_code == 400
    assert "slug" in response.data
    response = api.post("/api/v1/projects/", {"name": "Bad", "mode": "chaos"})
    assert response.status_code == 400
    assert Project.objects.count() == 1


def test_project_list_shows_only_my_projects(api, project, other_project):
    response = api.get("/api/v1/projects/")
    assert response.status_code == 200
    assert [p["slug"] for p in response.data["results"]] == [project.slug]


def test_someone_elses_project_is_404_everywhere(api, other_project):
    TaskFactory(project=other_project, key="T1")
    for url in (
        f"/api/v1/projects/{other_project.slug}/",
        f"/api/v1/projects/{other_project.slug}/tasks/",
        f"/api/v1/projects/{other_project.slug}/tasks/T1/",
        f"/api/v1/projects/{other_project.slug}/tasks/next/",
        f"/api/v1/projects/{other_project.slug}/features/",
        f"/api/v1/projects/{other_project.slug}/members/",
    ):
        assert api.get(url).status_code == 404, url
    assert api.patch(f"/api/v1/projects/{other_project.slug}/", {"name": "x"}).status_code == 404
    assert api.delete(f"/api/v1/projects/{other_project.slug}/tasks/T1/").status_code == 404
    assert Task.objects.filter(project=other_project).count() == 1


def test_viewer_can_read_but_not_write(viewer_api, project):
    TaskFactory(project=project, key="T1")
    assert viewer_api.get(f"{BASE}/tasks/").status_code == 200
    assert viewer_api.patch(f"{BASE}/tasks/T1/", {"status": "done"}).status_code == 403
    assert viewer_api.post(f"{BASE}/features/", {"key": "01", "name": "x"}).status_code == 403
    assert viewer_api.patch(f"{BASE}/", {"name": "Renamed"}).status_code == 403
    assert Task.objects.get(key="T1").status == "pending"


def test_only_owner_deletes_project_and_manages_members(api, project):
    editor = UserFactory(username="ed")
    response = api.post(f"{BASE}/members/", {"username": "ed", "role": "editor"})
    assert response.status_code == 201, response.data
    editor_api = APIClient()
    editor_api.force_authenticate(editor)
    assert editor_api.delete(f"{BASE}/").status_code == 403
    assert (
        editor_api.post(f"{BASE}/members/", {"username": "alice", "role": "viewer"}).status_code
        == 403
    )
    assert api.patch(f"{BASE}/members/ed/", {"role": "viewer"}).status_code == 200
    assert ProjectMembership.objects.get(user=editor).role == "viewer"
    assert api.delete(f"{BASE}/members/alice/").status_code == 409  # last owner
    assert api.delete(f"{BASE}/members/ed/").status_code == 204
    assert api.delete(f"{BASE}/").status_code == 204
    assert not Project.objects.exists()


def test_adding_a_member_does_not_tell_which_usernames_exist(api, project):
    UserFactory(username="gone", is_active=False)
    unknown = api.post(f"{BASE}/members/", {"username": "nobody", "role": "viewer"})
    inactive = api.post(f"{BASE}/members/", {"username": "gone", "role": "viewer"})
    assert unknown.status_code == inactive.status_code == 400
    assert unknown.data == inactive.data
    assert "nobody" not in str(unknown.data)
    assert not ProjectMembership.objects.filter(user__username__in=["nobody", "gone"]).exists()


@pytest.mark.parametrize("key", ["T\n1", "T\t1", "T\x1b[31m", "T\x7f", "T\x9b1"])
def test_keys_refuse_control_characters(api, project, key):
    feature = api.post(f"{BASE}/features/", {"key": key, "name": "x"})
    task = api.post(f"{BASE}/tasks/", {"key": key, "name": "x"})
    for response in (feature, task):
        assert response.status_code == 400
        assert "control characters" in str(response.data["key"])
    TaskFactory(project=project, key="T1")
    renamed = api.patch(f"{BASE}/tasks/T1/", {"key": key})
    assert renamed.status_code == 400, renamed.data
    assert not Feature.objects.exists()
    assert list(Task.objects.values_list("key", flat=True)) == ["T1"]


def test_a_project_with_saved_versions_is_kept_with_a_clear_conflict(api, project):
    from planning.services.versions import version_create

    version_create(project=project, summary="First plan", only_if_changed=False)
    response = api.delete(f"{BASE}/")
    assert response.status_code == 409
    assert "dev plan versions" in response.data["detail"]
    assert Project.objects.filter(pk=project.pk).exists()


def test_token_authentication(project):
    token = Token.objects.create(user=project.owner)
    client = APIClient()
    assert client.get("/api/v1/projects/").status_code in (401, 403)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/projects/").data["count"] == 1


# Plan objects -----------------------------------------------------------------------


def test_feature_sub_feature_task_crud(api, project):
    assert api.post(f"{BASE}/features/", {"key": "01", "name": "Foundation"}).status_code == 201
    response = api.post(
        f"{BASE}/sub-features/",
        {
            "key": "01-01",
            "feature": "01",
            "name": "Models",
            "wave": 2,
            "must_haves": {"truths": ["x"]},
        },
    )
    assert response.status_code == 201, response.data
    response = api.post(
        f"{BASE}/tasks/",
        {"key": "01-01-T1", "name": "Write models", "sub_feature": "01-01", "type": "tdd"},
    )
    assert response.status_code == 201, response.data
    assert response.data["feature"] == "01"
    assert response.data["wave"] == 2
    response = api.patch(f"{BASE}/tasks/01-01-T1/", {"status": "done", "qa_iterations": 2})
    assert response.status_code == 200, response.data
    assert response.data["completed_at"] is not None
    assert api.get(f"{BASE}/features/01/").data["done_count"] == 1
    assert api.delete(f"{BASE}/features/01/").status_code == 204
    assert not Task.objects.exists()


def test_task_keys_with_dots_work_in_urls(api, project):
    TaskFactory(project=project, key="12.3")
    assert api.get(f"{BASE}/tasks/12.3/").data["key"] == "12.3"


def test_task_validation_errors_are_400_and_nothing_changes(api, project):
    TaskFactory(project=project, key="T1", max_iterations=3)
    response = api.patch(f"{BASE}/tasks/T1/", {"qa_iterations": 4})
    assert response.status_code == 400
    response = api.patch(f"{BASE}/tasks/T1/", {"status": "finished"})
    assert response.status_code == 400
    response = api.post(f"{BASE}/tasks/", {"key": "T1", "name": "dup"})
    assert response.status_code == 400
    task = Task.objects.get(key="T1")
    assert (task.qa_iterations, task.status) == (0, "pending")


def test_cannot_link_to_another_projects_feature(api, project, other_project):
    FeatureFactory(project=other_project, key="99")
    response = api.post(f"{BASE}/tasks/", {"key": "T1", "name": "x", "feature": "99"})
    assert response.status_code == 400
    assert "feature" in response.data


def test_requirement_crud_links_features(api, project):
    FeatureFactory(project=project, key="01")
    response = api.post(
        f"{BASE}/requirements/",
        {"code": "DATA-01", "description": "Store plans", "priority": "must", "features": ["01"]},
    )
    assert response.status_code == 201, response.data
    assert response.data["features"] == ["01"]
    response = api.post(f"{BASE}/requirements/", {"code": "DATA-01", "description": "again"})
    assert response.status_code == 400


@pytest.mark.parametrize("n", [4, 300])
def test_requirements_list_in_their_order_and_move_through_the_api(
    api, project, n, django_assert_max_num_queries
):
    for code in ("R1", "R2", "R3"):
        assert (
            api.post(f"{BASE}/requirements/", {"code": code, "description": code}).status_code
            == 201
        )
    Requirement.objects.bulk_create(
        Requirement(project=project, code=f"X{i:04d}", description="x", position=10**6 + i)
        for i in range(n)
    )
    r3 = Requirement.objects.get(project=project, code="R3")

    # The caller, membership, the requirement, the move (lock, order, one row, in a
    # savepoint) and the answer read back with its features.
    with django_assert_max_num_queries(11):
        moved = api.post(f"{BASE}/requirements/{r3.pk}/move/", {"index": 0}, format="json")

    assert moved.status_code == 200, moved.data
    listed = api.get(f"{BASE}/requirements/").data["results"]
    assert [r["code"] for r in listed[:3]] == ["R3", "R1", "R2"]
    assert moved.data["position"] == listed[0]["position"]
    back = api.post(f"{BASE}/requirements/{r3.pk}/move/", {"offset": 1}, format="json")
    assert back.data["code"] == "R3"
    assert [r["code"] for r in api.get(f"{BASE}/requirements/").data["results"][:3]] == [
        "R1",
        "R3",
        "R2",
    ]
    # The place is set by moving: a position in an update is not taken.
    api.patch(f"{BASE}/requirements/{r3.pk}/", {"position": 0}, format="json")
    assert Requirement.objects.get(pk=r3.pk).position == back.data["position"]
    assert api.post(f"{BASE}/requirements/{r3.pk}/move/", {}, format="json").status_code == 400


def test_viewers_cannot_move_requirements_and_strangers_do_not_find_them(
    api, viewer_api, project, other_project
):
    mine = RequirementFactory(project=project, code="R1")
    theirs = RequirementFactory(project=other_project, code="R1")
    answer = viewer_api.post(f"{BASE}/requirements/{mine.pk}/move/", {"offset": 1}, format="json")
    assert answer.status_code == 403
    elsewhere = f"/api/v1/projects/{other_project.slug}/requirements/{theirs.pk}/move/"
    assert viewer_api.post(elsewhere, {"offset": 1}, format="json").status_code == 404
    # Another project's requirement under this project's address is not found either.
    stray = f"{BASE}/requirements/{theirs.pk}/move/"
    assert api.post(stray, {"offset": 1}, format="json").status_code == 404


def test_dependency_cycle_is_400_naming_the_cycle(api, project):
    for key in ("A", "B", "C"):
        TaskFactory(project=project, key=key)
    assert (
        api.post(f"{BASE}/task-dependencies/", {"task": "A", "depends_on": "B"}).status_code == 201
    )
    assert (
        api.post(f"{BASE}/task-dependencies/", {"task": "B", "depends_on": "C"}).status_code == 201
    )
    response = api.post(f"{BASE}/task-dependencies/", {"task": "C", "depends_on": "A"})
    assert response.status_code == 400
    assert "C -> A -> B -> C" in str(response.data)
    assert TaskDependency.objects.count() == 2
    assert api.get(f"{BASE}/tasks/A/").data["depends_on"] == ["B"]


def test_duplicate_dependency_is_409(api, project):
    TaskFactory(project=project, key="A")
    TaskFactory(project=project, key="B")
    api.post(f"{BASE}/task-dependencies/", {"task": "A", "depends_on": "B"})
    response = api.post(f"{BASE}/task-dependencies/", {"task": "A", "depends_on": "B"})
    assert response.status_code == 409


def test_next_task_endpoint(api, project):
    assert api.get(f"{BASE}/tasks/next/").status_code == 204
    TaskFactory(project=project, key="B", priority="low")
    TaskFactory(project=project, key="A", priority="high", status="done")
    plan = SubFeatureFactory(feature=FeatureFactory(project=project))
    for key, wave in (("C", 2), ("D", 1)):  # waves order the tasks of a plan
        TaskFactory(
            project=project,
            feature=plan.feature,
            sub_feature=plan,
            key=key,
            priority="high",
            wave=wave,
        )
    response = api.get(f"{BASE}/tasks/next/")
    assert response.status_code == 200
    assert response.data["key"] == "D"


def test_task_filters_ordering_and_pagination(api, project):
    for i in range(7):
        TaskFactory(project=project, key=f"T{i}", status="done" if i % 2 else "pending")
    response = api.get(f"{BASE}/tasks/", {"status": "done", "ordering": "-key", "page_size": 2})
    assert response.data["count"] == 3
    assert [t["key"] for t in response.data["results"]] == ["T5", "T3"]
    assert response.data["next"] is not None
    assert api.get(f"{BASE}/tasks/", {"q": "T6"}).data["count"] == 1
    assert api.get(f"{BASE}/tasks/", {"status": "nonsense"}).status_code == 400


def test_task_list_filters_ready_tasks(api, project, django_assert_max_num_queries):
    done = TaskFactory(project=project, key="A", name="schema", status="done")
    waiting_on = TaskFactory(project=project, key="B", name="models")
    TaskFactory(project=project, key="C", name="views", status="in_progress")
    ready = TaskFactory(project=project, key="D", name="api")
    blocked = TaskFactory(project=project, key="E", name="pages")
    TaskDependency.objects.create(task=ready, depends_on=done)
    TaskDependency.objects.create(task=blocked, depends_on=waiting_on)
    with django_assert_max_num_queries(5):
        response = api.get(f"{BASE}/tasks/", {"ready": "true"})
    assert [t["key"] for t in response.data["results"]] == ["B", "D"]
    assert api.get(f"{BASE}/tasks/", {"ready": "false"}).data["count"] == 5
    assert api.get(f"{BASE}/tasks/", {"ready": "true", "q": "api"}).data["count"] == 1


@pytest.mark.parametrize("count", [10, 500])
def test_task_list_query_count_is_constant(api, project, count, django_assert_max_num_queries):
    _bulk_tasks(project, count)
    with django_assert_max_num_queries(5):
        response = api.get(f"{BASE}/tasks/", {"page_size": 500})
    assert response.status_code == 200
    assert len(response.data["results"]) == count


@pytest.mark.parametrize("count", [10, 200])
def test_other_lists_query_count_is_constant(api, project, count, django_assert_max_num_queries):
    _bulk_tasks(project, count)
    for i in range(count // 10):
        RequirementFactory(project=project)
        SubFeatureFactory(feature=Feature.objects.get(project=project), key=f"01-{i + 2:02d}")
    for resource in ("features", "sub-features", "requirements", "task-dependencies", "members"):
        with django_assert_max_num_queries(6):
            assert api.get(f"{BASE}/{resource}/").status_code == 200


def test_deleting_a_project_with_audit_records_is_409(api, project):
    from agents.models import ToolCall

    ToolCall.objects.create(project=project, tool_name="read_file", input={"path": "x"})
    response = api.delete(f"{BASE}/")
    assert response.status_code == 409
    assert "tool calls" in response.data["detail"]
    assert Project.objects.filter(pk=project.pk).exists()


def test_a_member_added_without_a_role_is_a_viewer_and_an_empty_patch_changes_nothing(api, project):
    UserFactory(username="ed")

    added = api.post(f"{BASE}/members/", {"username": "ed"})
    unchanged = api.patch(f"{BASE}/members/ed/", {})
    owner_again = api.post(f"{BASE}/members/", {"username": "alice"})

    assert added.status_code == 201 and added.data["role"] == "viewer"
    assert unchanged.status_code == 200 and unchanged.data["role"] == "viewer"
    assert owner_again.status_code == 201 and owner_again.data["role"] == "owner"
    assert ProjectMembership.objects.get(project=project, user__username="ed").role == "viewer"


def test_a_created_feature_answers_with_its_task_counts(api, project):
    response = api.post(f"{BASE}/features/", {"key": "F1", "name": "One"})

    assert response.status_code == 201
    assert (response.data["task_count"], response.data["done_count"]) == (0, 0)


@pytest.mark.parametrize(
    ("resource", "body"),
    [
        ("features", {"key": "F1", "name": "One"}),
        ("tasks", {"key": "T1", "name": "One"}),
        ("agents", {"name": "coder", "type": "external"}),
        ("requirements", {"code": "R1", "description": "One"}),
    ],
)
def test_creating_a_taken_key_again_is_a_400_and_writes_nothing(api, project, resource, body):
    first = api.post(f"{BASE}/{resource}/", body)
    again = api.post(f"{BASE}/{resource}/", body)

    assert first.status_code == 201, first.data
    assert again.status_code == 400
    assert api.get(f"{BASE}/{resource}/").data["count"] == 1


def test_creating_a_project_with_a_taken_slug_is_a_400(api, project):
    response = api.post("/api/v1/projects/", {"name": "Again", "slug": "crewboard"})

    assert response.status_code == 400
    assert Project.objects.filter(slug="crewboard").count() == 1
