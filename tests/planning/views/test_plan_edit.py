"""Editing the plan from its page: add, edit, move and delete features, sub-features and
tasks, as htmx fragments and as plain pages; viewers are refused, bad input writes
nothing, deletions with children ask first, and no edit saves a version."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from planning import outline
from planning.models import DevPlanVersion, Feature, SubFeature, Task
from planning.services import task_add_dependency
from tests.factories import FeatureFactory, SubFeatureFactory, TaskFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, *args: object) -> str:
    return reverse(f"planning:{name}", args=["crewboard", *args])


def plan_page(query: str = "") -> str:
    return url("project-detail") + query


@pytest.fixture
def viewer_browser(viewer):
    """A client of its own: `browser` stays logged in as the owner beside it."""
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def plan(project):
    feature = FeatureFactory(project=project, key="01", name="Data model", position=0)
    sub = SubFeatureFactory(feature=feature, key="01-01", name="Tables", position=0)
    tasks = [
        TaskFactory(
            project=project, feature=feature, sub_feature=sub, key=f"01-01-T{i}", position=i
        )
        for i in range(1, 4)
    ]
    return feature, sub, tasks


# Adding -------------------------------------------------------------------------------


def test_adding_a_feature_from_its_inline_form_lands_on_it_open(browser, project):
    form = browser.get(url("plan-feature-add"), **HTMX)
    assert form.status_code == 200
    html = form.content.decode()
    assert html.lstrip().startswith('<div class="panel item-form htmx-container">')
    assert 'hx-post="/projects/crewboard/plan/features/add/"' in html
    assert 'value="01"' in html  # the next key, suggested

    response = browser.post(
        url("plan-feature-add"), {"key": "01", "name": "Data model", "priority": "high"}, **HTMX
    )

    feature = Feature.objects.get(project=project, key="01")
    assert (feature.name, feature.priority) == ("Data model", "high")
    assert response["HX-Redirect"] == plan_page(f"?feature={feature.pk}#feature-{feature.pk}")
    page = browser.get(response["HX-Redirect"]).content.decode()
    assert (
        f'<details class="feature" id="feature-{feature.pk}" '
        f'data-move-url="{url("plan-feature-move", feature.pk)}" open>'
    ) in page
    assert "Edit feature" in page


def test_a_refused_form_shows_its_error_in_place_and_writes_nothing(browser, project, plan):
    response = browser.post(
        url("plan-feature-add"), {"key": "01", "name": "Again", "priority": "high"}, **HTMX
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="panel item-form htmx-container">')
    assert "already exists" in html
    assert project.features.count() == 1

    blank = browser.post(url("plan-feature-add"), {"key": "02", "name": "", "priority": "x"})
    assert blank.status_code == 400
    assert "<html" in blank.content.decode()  # without htmx, the form as a page
    assert project.features.count() == 1


def test_a_sub_feature_and_tasks_are_added_at_the_end_of_their_group(browser, project, plan):
    feature, sub, _tasks = plan
    response = browser.post(
        url("plan-sub-feature-add", feature.pk),
        {"key": "01-02", "name": "API", "wave": "2", "autonomous": "on"},
    )
    added = SubFeature.objects.get(key="01-02")
    assert response.status_code == 302
    assert response["Location"] == plan_page(f"?sub_feature={added.pk}#sub-feature-{added.pk}")
    assert (added.feature, added.wave, added.position) == (feature, 2, 1)

    add_task = url("plan-task-add") + f"?sub_feature={sub.pk}"
    assert 'value="01-01-T4"' in browser.get(add_task, **HTMX).content.decode()
    browser.post(
        add_task,
        {"key": "01-01-T4", "name": "Indexes", "type": "auto", "priority": "low", "size": "small"},
    )
    task = Task.objects.get(key="01-01-T4")
    assert (task.feature, task.sub_feature, task.position) == (feature, sub, 4)

    loose = url("plan-task-add") + f"?feature={feature.pk}"
    browser.post(
        loose, {"key": "L1", "name": "Docs", "type": "auto", "priority": "low", "size": "small"}
    )
    assert Task.objects.get(key="L1").sub_feature is None

    outside = url("plan-task-add") + "?unassigned=1"
    browser.post(
        outside, {"key": "U1", "name": "Chore", "type": "auto", "priority": "low", "size": "small"}
    )
    assert Task.objects.get(key="U1").feature is None


def test_a_task_group_that_is_not_the_projects_is_not_found(browser, other_project):
    elsewhere = SubFeatureFactory(feature=FeatureFactory(project=other_project))
    assert browser.get(url("plan-task-add") + f"?sub_feature={elsewhere.pk}").status_code == 404
    assert browser.get(url("plan-task-add")).status_code == 404


# Editing ------------------------------------------------------------------------------


def test_a_task_is_edited_in_place_of_its_row(browser, project, plan):
    _, _, tasks = plan
    form = browser.get(url("plan-task-edit", tasks[0].pk), **HTMX).content.decode()
    assert form.lstrip().startswith('<tr class="task-row task-row--editing"><td colspan="8">')
    assert f'value="{tasks[0].name}"' in form

    response = browser.post(
        url("plan-task-edit", tasks[0].pk),
        {"key": "01-01-T1", "name": "Renamed", "type": "tdd", "priority": "high", "size": "large"},
        **HTMX,
    )
    tasks[0].refresh_from_db()
    assert (tasks[0].name, tasks[0].type, tasks[0].size) == ("Renamed", "tdd", "large")
    assert response["HX-Redirect"] == plan_page(f"?task=01-01-T1#task-{tasks[0].pk}")

    # A key taken by another task: the form again, in place, and the task unchanged.
    refused = browser.post(
        url("plan-task-edit", tasks[0].pk),
        {"key": "01-01-T2", "name": "Clash", "type": "auto", "priority": "low", "size": "small"},
        **HTMX,
    )
    assert refused.status_code == 400
    assert refused.content.decode().lstrip().startswith('<div class="panel item-form')
    tasks[0].refresh_from_db()
    assert (tasks[0].key, tasks[0].name) == ("01-01-T1", "Renamed")


def test_features_and_sub_features_are_edited(browser, plan):
    feature, sub, _ = plan
    browser.post(
        url("plan-feature-edit", feature.pk),
        {"key": "01", "name": "Schema", "description": "All tables", "priority": "low"},
    )
    browser.post(
        url("plan-sub-feature-edit", sub.pk), {"key": "01-01", "name": "Core tables", "wave": "3"}
    )
    feature.refresh_from_db()
    sub.refresh_from_db()
    assert (feature.name, feature.priority) == ("Schema", "low")
    assert (sub.name, sub.wave, sub.autonomous) == ("Core tables", 3, False)
    # The new wave is carried down to the sub-feature's tasks (sub_feature_update's rule).
    assert set(sub.tasks.values_list("wave", flat=True)) == {3}


# Moving -------------------------------------------------------------------------------


def test_up_and_down_buttons_move_items_without_javascript(browser, project, plan):
    _feature, sub, tasks = plan
    second = FeatureFactory(project=project, key="02", position=1)

    response = browser.post(url("plan-feature-move", second.pk), {"offset": "-1"})
    assert response.status_code == 302
    assert list(project.features.order_by("position").values_list("key", flat=True)) == [
        "02",
        "01",
    ]

    browser.post(url("plan-task-move", tasks[0].pk), {"offset": "1"})
    order = Task.objects.filter(sub_feature=sub).order_by("position", "sort_key")
    assert [t.key for t in order] == ["01-01-T2", "01-01-T1", "01-01-T3"]

    # A drag sends the new index (htmx-style request, as the page's script does).
    dragged = browser.post(url("plan-task-move", tasks[2].pk), {"index": "0"}, **HTMX)
    assert dragged.status_code == 200
    order = Task.objects.filter(sub_feature=sub).order_by("position", "sort_key")
    assert [t.key for t in order] == ["01-01-T3", "01-01-T2", "01-01-T1"]

    assert browser.post(url("plan-sub-feature-move", sub.pk), {}, **HTMX).status_code == 400


def test_features_and_sub_features_are_dragged_by_their_handles(
    browser, viewer_browser, project, plan
):
    feature, sub, _ = plan
    second = FeatureFactory(project=project, key="02", position=1)
    later = SubFeatureFactory(feature=feature, key="01-02", position=1)

    page = browser.get(plan_page()).content.decode()
    outline_tag = re.search(r'<section class="plan" id="plan-outline"[^>]*>', page).group(0)
    assert 'data-reorder="details.feature[data-move-url]"' in outline_tag
    assert 'data-reorder-handle=".feature-drag"' in outline_tag
    assert 'data-first-index="0"' in outline_tag
    assert f'data-move-url="{url("plan-feature-move", second.pk)}"' in page
    assert 'class="drag-handle feature-drag"' in page
    body = browser.get(url("plan-feature", feature.pk), **HTMX).content.decode()
    assert 'data-reorder="details.sub-feature[data-move-url]"' in body
    assert f'data-move-url="{url("plan-sub-feature-move", later.pk)}"' in body
    assert 'class="drag-handle sub-feature-drag"' in body

    # A drag posts the item's new index among its siblings, as htmx.
    assert (
        browser.post(url("plan-feature-move", second.pk), {"index": "0"}, **HTMX).status_code == 200
    )
    assert list(outline.feature_outline(project=project).values_list("key", flat=True)) == [
        "02",
        "01",
    ]
    assert (
        browser.post(url("plan-sub-feature-move", later.pk), {"index": "0"}, **HTMX).status_code
        == 200
    )
    assert [s.key for s in outline.sub_feature_outline(feature=feature)] == ["01-02", "01-01"]
    assert sub.pk != later.pk

    theirs = viewer_browser.get(plan_page()).content.decode()
    assert "data-reorder" not in theirs
    assert "feature-drag" not in theirs


def test_a_refused_drag_answers_its_reason_as_text_and_moves_nothing(browser, project, plan):
    feature, _, _ = plan
    FeatureFactory(project=project, key="02", position=1)

    dragged = browser.post(url("plan-feature-move", feature.pk), {"index": "x"}, **HTMX)

    assert dragged.status_code == 400
    assert dragged["Content-Type"].startswith("text/plain")
    assert dragged.content.decode() == "Say where to move it: an offset or an index."
    plain = browser.post(url("plan-feature-move", feature.pk), {}, follow=True)
    assert "Say where to move it" in plain.content.decode()
    assert list(outline.feature_outline(project=project).values_list("key", flat=True)) == [
        "01",
        "02",
    ]


@pytest.mark.parametrize("n", [3, 300])
def test_a_feature_drag_costs_the_same_queries_however_many_features(
    browser, project, n, django_assert_max_num_queries
):
    Feature.objects.bulk_create(
        Feature(project=project, key=f"{i:04d}", name="f", position=0) for i in range(n)
    )
    last = Feature.objects.get(project=project, key=f"{n - 1:04d}")

    with django_assert_max_num_queries(11):
        answer = browser.post(url("plan-feature-move", last.pk), {"index": "1"}, **HTMX)

    assert answer.status_code == 200
    assert list(outline.feature_outline(project=project).values_list("key", flat=True))[1] == (
        f"{n - 1:04d}"
    )


def test_the_plan_page_shows_the_edit_controls_to_editors_only(
    browser, viewer_browser, project, plan
):
    feature, sub, _ = plan
    tasks_url = url("plan-tasks") + f"?sub_feature={sub.pk}"
    mine = browser.get(tasks_url, **HTMX).content.decode()
    assert 'aria-label="Move 01-01-T1 up"' in mine
    assert 'class="task-rows"' in mine
    body = browser.get(url("plan-feature", feature.pk), **HTMX).content.decode()
    assert "Add a sub-feature" in body
    assert 'aria-label="Move 01-01 down"' in body

    theirs = viewer_browser.get(tasks_url, **HTMX).content.decode()
    assert "Move 01-01-T1 up" not in theirs
    assert (
        "Add a sub-feature"
        not in viewer_browser.get(url("plan-feature", feature.pk), **HTMX).content.decode()
    )
    assert "Add a feature" not in viewer_browser.get(plan_page()).content.decode()


# Deleting -----------------------------------------------------------------------------


def test_deleting_a_feature_with_children_asks_first_and_counts_them(browser, project, plan):
    feature, _sub, tasks = plan
    waiting = TaskFactory(project=project, key="W1")
    task_add_dependency(task=waiting, depends_on=tasks[0])

    ask = browser.post(url("plan-feature-delete", feature.pk), **HTMX)

    assert ask.status_code == 200
    html = ask.content.decode()
    assert "Delete feature 01 Data model?" in html
    impact = re.findall(r"<li>(.*?)</li>", html)
    assert impact == [
        "1 sub-feature deleted",
        "3 tasks deleted",
        "1 task elsewhere waits for it and will lose that dependency",
    ]
    assert Feature.objects.filter(pk=feature.pk).exists()

    done = browser.post(url("plan-feature-delete", feature.pk), {"confirm": "yes"})
    assert done.status_code == 302
    assert not Feature.objects.filter(pk=feature.pk).exists()
    assert list(project.tasks.values_list("key", flat=True)) == ["W1"]
    assert not waiting.dependency_edges.exists()


def test_a_task_with_nothing_depending_on_it_is_deleted_at_once(browser, plan):
    _, sub, tasks = plan
    response = browser.post(url("plan-task-delete", tasks[2].pk), **HTMX)
    assert response["HX-Redirect"] == plan_page(f"?sub_feature={sub.pk}#sub-feature-{sub.pk}")
    assert not Task.objects.filter(pk=tasks[2].pk).exists()


def test_deleting_a_task_others_wait_for_asks_in_place_of_its_row(browser, plan):
    _, _, tasks = plan
    task_add_dependency(task=tasks[1], depends_on=tasks[0])
    html = browser.post(url("plan-task-delete", tasks[0].pk), **HTMX).content.decode()
    assert html.lstrip().startswith('<tr class="task-row task-row--editing">')
    assert "1 task elsewhere waits for it" in html
    assert Task.objects.filter(pk=tasks[0].pk).exists()


def test_a_sub_feature_delete_without_javascript_is_a_confirmation_page(browser, plan):
    feature, sub, _ = plan
    page = browser.post(url("plan-sub-feature-delete", sub.pk))
    assert page.status_code == 200
    assert "<html" in page.content.decode()
    assert "3 tasks deleted" in page.content.decode()
    browser.post(url("plan-sub-feature-delete", sub.pk), {"confirm": "yes"})
    assert not SubFeature.objects.filter(pk=sub.pk).exists()
    assert feature.tasks.count() == 0


# Who may, and what is not done --------------------------------------------------------


def test_viewers_get_403_and_strangers_404_on_every_edit(viewer_browser, other_project, plan):
    feature, sub, tasks = plan
    writes = [
        ("get", url("plan-feature-add")),
        ("post", url("plan-feature-edit", feature.pk)),
        ("post", url("plan-feature-move", feature.pk)),
        ("post", url("plan-feature-delete", feature.pk)),
        ("get", url("plan-sub-feature-add", feature.pk)),
        ("post", url("plan-sub-feature-edit", sub.pk)),
        ("post", url("plan-sub-feature-move", sub.pk)),
        ("post", url("plan-sub-feature-delete", sub.pk)),
        ("get", url("plan-task-add") + f"?sub_feature={sub.pk}"),
        ("post", url("plan-task-edit", tasks[0].pk)),
        ("post", url("plan-task-move", tasks[0].pk)),
        ("post", url("plan-task-delete", tasks[0].pk)),
    ]
    for method, path in writes:
        answer = getattr(viewer_browser, method)(path, {"offset": "1", "confirm": "yes"})
        assert answer.status_code == 403, path
    assert Feature.objects.filter(pk=feature.pk).exists()
    assert Task.objects.filter(pk__in=[t.pk for t in tasks]).count() == 3

    client = Client()
    client.force_login(other_project.owner)
    for method, path in writes:
        assert getattr(client, method)(path).status_code == 404, path


def test_edits_save_no_version(browser, project, plan):
    feature, _, tasks = plan
    browser.post(url("plan-feature-add"), {"key": "02", "name": "More", "priority": "low"})
    browser.post(url("plan-task-move", tasks[0].pk), {"offset": "1"})
    browser.post(url("plan-feature-delete", feature.pk), {"confirm": "yes"})
    assert not DevPlanVersion.objects.filter(plan__project=project).exists()


def test_edit_pages_cost_a_constant_number_of_queries(
    browser, project, plan, django_assert_max_num_queries
):
    feature, sub, tasks = plan
    Task.objects.bulk_create(
        Task(project=project, feature=feature, sub_feature=sub, key=f"X{i}", name="x", position=i)
        for i in range(300)
    )
    pages = [
        ("get", url("plan-feature-add"), 6),
        ("get", url("plan-task-add") + f"?sub_feature={sub.pk}", 8),
        ("get", url("plan-task-edit", tasks[0].pk), 5),
        ("post", url("plan-feature-delete", feature.pk), 9),
        ("get", url("plan-tasks") + f"?sub_feature={sub.pk}", 8),
    ]
    for method, path, most in pages:
        with django_assert_max_num_queries(most):
            answer = getattr(browser, method)(path, **HTMX)
        assert answer.status_code == 200, path
    with django_assert_max_num_queries(14):
        browser.post(url("plan-task-move", tasks[0].pk), {"index": "200"}, **HTMX)
    group = outline.task_group(project=project, kind="sub_feature", pk=sub.pk)
    assert list(group.values_list("pk", flat=True)).index(tasks[0].pk) == 200
