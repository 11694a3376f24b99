"""A plan's dependency on a plan outside the import holds its tasks back until a person
marks it satisfied: not ready, not offered by `next`, not claimable."""

from __future__ import annotations

import pytest
from django.utils import timezone

from planning import selectors
from planning.importers import ImportSource
from planning.models import ExternalDependency, Task
from planning.outline import plan_stamp
from planning.services import external_dependency_set_satisfied, task_claim_next
from planning.services.imports import plan_import
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

PLAN = """---
phase: 01
plan: {plan}
type: execute
wave: 1
depends_on: {deps}
files_modified: []
autonomous: true
must_haves: {{}}
---
<objective>Plan {plan}</objective>
<tasks>
<task type="auto"><name>Work of plan {plan}</name><action>do it</action></task>
</tasks>
"""


def _import(project, deps: str = '["09-04", "after the Regla 4 section"]'):
    files = {
        ".planning/phases/01-a/01-01-PLAN.md": PLAN.format(plan="01", deps="[]"),
        ".planning/phases/01-a/01-02-PLAN.md": PLAN.format(plan="02", deps=deps),
    }
    return plan_import(project=project, source=ImportSource(name="plans.zip", files=files))


def _ready(project) -> set[str]:
    return set(selectors.task_ready_list(project=project).values_list("key", flat=True))


def test_an_outside_plan_blocks_readiness_until_marked_satisfied(project, user):
    outcome = _import(project)
    warnings = "\n".join(outcome.warnings)
    assert "'09-04', which is not a plan in this import" in warnings
    assert "'after the Regla 4 section' names no plan; kept as a note" in warnings
    [dependency] = ExternalDependency.objects.filter(sub_feature__project=project)
    assert (dependency.sub_feature.key, dependency.reference) == ("01-02", "09-04")
    assert dependency.sub_feature.extra["dependency_notes"] == ["after the Regla 4 section"]

    assert _ready(project) == {"01-01-T1"}
    project.tasks.filter(key="01-01-T1").update(status=Task.Status.DONE)
    assert _ready(project) == set()
    assert selectors.task_next_ready(project=project) is None
    agent = AgentFactory(project=project)
    assert task_claim_next(project_id=project.pk, agent_id=agent.pk, now=timezone.now()) is None

    external_dependency_set_satisfied(dependency=dependency, actor=user)
    assert _ready(project) == {"01-02-T1"}
    assert selectors.task_next_ready(project=project).key == "01-02-T1"
    claimed = task_claim_next(project_id=project.pk, agent_id=agent.pk, now=timezone.now())
    assert claimed is not None and claimed.task.key == "01-02-T1"


def test_a_reimport_keeps_the_satisfied_mark_and_drops_references_no_longer_named(project, user):
    _import(project)
    dependency = ExternalDependency.objects.get(sub_feature__project=project)
    external_dependency_set_satisfied(dependency=dependency, actor=user)
    _import(project)
    dependency.refresh_from_db()
    assert dependency.satisfied and dependency.satisfied_by == user
    _import(project, deps='["01-01"]')
    assert not ExternalDependency.objects.filter(sub_feature__project=project).exists()


def test_marking_it_not_satisfied_again_holds_the_plan_back(project, user):
    _import(project, deps='["09-04"]')
    dependency = ExternalDependency.objects.get(sub_feature__project=project)
    external_dependency_set_satisfied(dependency=dependency, actor=user)
    project.tasks.filter(key="01-01-T1").update(status=Task.Status.DONE)
    assert _ready(project) == {"01-02-T1"}
    dependency = external_dependency_set_satisfied(
        dependency=dependency, actor=user, satisfied=False
    )
    assert dependency.satisfied_at is None and dependency.satisfied_by is None
    assert _ready(project) == set()


BASE = "/api/v1/projects/crewboard/external-dependencies/"


def test_api_lists_and_marks_them(api, project, django_assert_max_num_queries):
    _import(project)
    with django_assert_max_num_queries(8):
        response = api.get(BASE)
    assert response.status_code == 200
    [row] = response.data["results"]
    assert row["plan"] == "01-02" and row["reference"] == "09-04" and row["satisfied"] is False
    response = api.post(f"{BASE}{row['id']}/satisfy/", {}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["satisfied"] is True and response.data["satisfied_by"] == "alice"
    response = api.post(f"{BASE}{row['id']}/satisfy/", {"satisfied": False}, format="json")
    assert response.data["satisfied"] is False
    response = api.post(f"{BASE}{row['id']}/satisfy/", {"satisfied": "maybe"}, format="json")
    assert response.status_code == 400


def test_api_hides_them_from_strangers_and_viewers_cannot_mark_them(
    api, viewer_api, project, other_project
):
    _import(project)
    _import(other_project)
    theirs = ExternalDependency.objects.get(sub_feature__project=other_project)
    assert api.get("/api/v1/projects/elsewhere/external-dependencies/").status_code == 404
    assert api.post(f"{BASE}{theirs.pk}/satisfy/", {}, format="json").status_code == 404
    ours = ExternalDependency.objects.get(sub_feature__project=project)
    assert viewer_api.get(BASE).status_code == 200
    assert viewer_api.post(f"{BASE}{ours.pk}/satisfy/", {}, format="json").status_code == 403
    ours.refresh_from_db()
    assert not ours.satisfied


def test_task_page_and_board_card_show_it_and_the_button_marks_it(browser, project):
    _import(project)
    dependency = ExternalDependency.objects.get(sub_feature__project=project)
    page = browser.get("/projects/crewboard/tasks/01-02-T1/").content.decode()
    assert "Outside this project" in page and "09-04" in page and "Not satisfied" in page
    assert "after the Regla 4 section" in page  # the note, shown as written
    assert "Mark satisfied" in page
    board = browser.get("/projects/crewboard/board/").content.decode()
    assert board.count("External dependency") == 1
    response = browser.post(
        f"/projects/crewboard/tasks/01-02-T1/external-dependencies/{dependency.pk}/",
        {"satisfied": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert (
        "Satisfied" in response.content.decode()
        and "Mark not satisfied" in response.content.decode()
    )
    dependency.refresh_from_db()
    assert dependency.satisfied
    assert "External dependency" not in browser.get("/projects/crewboard/board/").content.decode()


def test_marking_one_satisfied_moves_the_plans_change_stamp(project, user):
    """Readiness changes with it, and live pages and the analytics cache are keyed on the
    stamp."""
    _import(project)
    dependency = ExternalDependency.objects.get(sub_feature__project=project)
    before = plan_stamp(project=project)
    external_dependency_set_satisfied(dependency=dependency, actor=user)
    assert plan_stamp(project=project) != before
