import itertools
import re

import pytest
from django.urls import reverse

from planning.models import Project, SubFeature, SubFeatureDependency, Task, TaskDependency
from planning.services.imports import demo_project_ensure
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

# The demo plan's critical path: nine of its ten tasks (all but 02.1-01-T1), 15 minutes each.
DEMO_CRITICAL_PATH = [
    "01-01-T1",
    "01-01-T2",
    "01-02-T1",
    "01-02-T2",
    "02-01-T1",
    "02-01-T2",
    "02-02-T1",
    "02-02-T2",
    "03-01-T1",
]


def analytics_url(project: Project) -> str:
    return reverse("planning:project-analytics", args=[project.slug])


def section(html: str, element_id: str) -> str:
    """The markup of the element with `element_id`, up to the end of its section."""
    start = html.index(f'id="{element_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def element(html: str, element_id: str, tag: str) -> str:
    """The markup of the <tag> with `element_id`, from its opening tag to its first </tag>."""
    start = html.rindex(f"<{tag}", 0, html.index(f'id="{element_id}"'))
    return html[start : html.index(f"</{tag}>", start)]


def text(markup: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)).strip()


@pytest.fixture
def demo(user):
    return demo_project_ensure(owner=user)


def get_page(client, project: Project) -> str:
    response = client.get(analytics_url(project))
    assert response.status_code == 200
    return response.content.decode()


# Access ------------------------------------------------------------------------------


def test_the_project_nav_links_to_analytics(browser, demo):
    plan_page = browser.get(reverse("planning:project-detail", args=[demo.slug])).content.decode()
    assert f'href="{analytics_url(demo)}"' in plan_page

    html = get_page(browser, demo)
    assert f'href="{analytics_url(demo)}" aria-current="page">Analytics' in html


def test_anonymous_users_are_sent_to_login(client, demo):
    response = client.get(analytics_url(demo))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login") + "?next=")


def test_non_members_get_404(client, demo, other_project):
    client.force_login(other_project.owner)

    assert client.get(analytics_url(demo)).status_code == 404


def test_viewers_can_read_it(client, demo):
    viewer = MembershipFactory(project=demo, role="viewer", user=UserFactory()).user
    client.force_login(viewer)

    html = get_page(client, demo)
    assert "2/4" in text(element(html, "progress-01", "tr"))


# Progress ----------------------------------------------------------------------------


def test_progress_per_feature_with_a_bar_counts_and_remaining_minutes(browser, demo):
    html = get_page(browser, demo)

    foundation = element(html, "progress-01", "tr")
    assert '<progress max="4" value="2"' in foundation
    assert "Foundation" in foundation
    assert "50%" in text(foundation)
    assert "2/4" in text(foundation)
    assert "30 min" in text(foundation)
    planning = text(element(html, "progress-02", "tr"))
    assert "0/4" in planning and "60 min" in planning
    assert "0/1" in text(element(html, "progress-02.1", "tr"))


def test_progress_follows_task_status(browser, demo):
    Task.objects.filter(project=demo, key="01-02-T1").update(status=Task.Status.DONE)

    foundation = text(element(get_page(browser, demo), "progress-01", "tr"))

    assert "3/4" in foundation and "15 min" in foundation


# Waves -------------------------------------------------------------------------------


def test_computed_waves_are_shown_next_to_declared_waves(browser, demo):
    html = get_page(browser, demo)

    row = element(html, "wave-01-02", "tr")
    assert re.search(r'wave-declared">2<', row)
    assert re.search(r'wave-computed">2<', row)
    assert "wave-row--differs" not in section(html, "analytics-waves")
    assert 'id="wave-warnings"' not in html
    waves = section(html, "analytics-waves")
    order = [m for m in re.findall(r'id="wave-([^"]+)"', waves) if m != "warnings"]
    assert order == ["01-01", "01-02", "02-01", "02-02", "02.1-01", "03-01"]


def test_a_declared_wave_that_disagrees_is_warned_about(browser, demo):
    SubFeature.objects.filter(project=demo, key="01-02").update(wave=3)

    html = get_page(browser, demo)

    warnings = text(element(html, "wave-warnings", "div"))
    assert "1 declared wave disagrees" in warnings
    assert "Plan 01-02 declares wave 3 but its dependencies and files put it in wave 2" in warnings
    row = element(html, "wave-01-02", "tr")
    assert "wave-row--differs" in row
    assert re.search(r'wave-declared">3<', row)
    assert re.search(r'wave-computed">2 <span class="flag flag--warning">differs', row)
    assert "differs" not in element(html, "wave-01-01", "tr")


# Critical path -----------------------------------------------------------------------


def test_the_critical_path_lists_keys_in_order_with_total_minutes(browser, demo):
    html = get_page(browser, demo)

    path = section(html, "analytics-critical-path")
    keys = re.findall(r'class="key"[^>]*>([^<]+)</a>', path)
    assert keys == DEMO_CRITICAL_PATH
    assert "135 min" in text(path) and "9 tasks" in text(path)


def test_critical_path_keys_link_to_their_rows_on_the_plan_page(browser, demo):
    html = get_page(browser, demo)
    detail = reverse("planning:project-detail", args=[demo.slug])

    links = re.findall(
        rf'href="{re.escape(detail)}\?task=([^"#]+)#(task-\d+)"',
        section(html, "analytics-critical-path"),
    )
    assert [key for key, _ in links] == DEMO_CRITICAL_PATH
    first = Task.objects.get(project=demo, key=DEMO_CRITICAL_PATH[0])
    assert links[0][1] == f"task-{first.pk}"
    for key, anchor in links:
        # The link opens the task's feature and sub-feature, so its row is on the page.
        plan_page = browser.get(f"{detail}?task={key}").content.decode()
        assert f'<tr id="{anchor}"' in plan_page


def test_a_longer_estimate_changes_the_critical_path(browser, demo):
    Task.objects.filter(project=demo, key="02.1-01-T1").update(estimated_minutes=500)

    path = section(get_page(browser, demo), "analytics-critical-path")

    # 02.1-01 waits for the 02-01 plan, which waits for the 01 plans.
    assert re.findall(r'class="key"[^>]*>([^<]+)</a>', path) == [
        *DEMO_CRITICAL_PATH[:6],
        "02.1-01-T1",
    ]
    assert "590 min" in text(path) and "7 tasks" in text(path)


# Task sets ---------------------------------------------------------------------------


def task_set(html: str, slug: str) -> tuple[str, list[str]]:
    details = element(html, f"tasks-{slug}", "details")
    summary = text(details[: details.index("</summary>")])
    return summary, re.findall(r'class="key"[^>]*>([^<]+)</a>', details)


def test_ready_blocked_and_done_tasks_are_counted_and_listed(browser, demo):
    html = get_page(browser, demo)

    summary, keys = task_set(html, "ready")
    assert summary.startswith("Ready (1)") and keys == ["01-02-T1"]
    summary, keys = task_set(html, "blocked")
    assert summary.startswith("Blocked (7)")
    assert keys == [
        "01-02-T2",
        "02-01-T1",
        "02-01-T2",
        "02-02-T1",
        "02-02-T2",
        "02.1-01-T1",
        "03-01-T1",
    ]
    summary, keys = task_set(html, "done")
    assert summary.startswith("Done (2)") and keys == ["01-01-T1", "01-01-T2"]
    summary, keys = task_set(html, "in-progress")
    assert summary.startswith("In progress (0)") and keys == []
    counts = text(section(html, "analytics-counts"))
    assert "1 Ready 7 Blocked 0 In progress 2 Done 10 Tasks in all" in counts
    assert element(html, "tasks-ready", "details").startswith("<details")  # collapsible


def test_starting_a_task_moves_it_to_in_progress(browser, demo):
    Task.objects.filter(project=demo, key="01-02-T1").update(status=Task.Status.IN_PROGRESS)

    html = get_page(browser, demo)

    assert task_set(html, "in-progress") == (
        "In progress (1) In progress or in review.",
        ["01-02-T1"],
    )
    assert task_set(html, "ready")[0].startswith("Ready (0)")


# Cycles ------------------------------------------------------------------------------


def test_a_task_cycle_is_named_instead_of_the_critical_path(browser, demo):
    t1 = Task.objects.get(project=demo, key="02-02-T1")
    t2 = Task.objects.get(project=demo, key="02-02-T2")
    TaskDependency.objects.filter(task=t2, depends_on=t1).delete()
    TaskDependency.objects.create(task=t1, depends_on=t2)
    TaskDependency.objects.create(task=t2, depends_on=t1)

    html = get_page(browser, demo)

    box = text(element(html, "analytics-cycle", "section"))
    assert "The plan has a dependency cycle" in box
    assert (
        "Tasks: 02-02-T1 → 02-02-T2 → 02-02-T1" in box
        or "Tasks: 02-02-T2 → 02-02-T1 → 02-02-T2" in box
    )
    assert "Plans:" not in box
    path = section(html, "analytics-critical-path")
    assert "not computed" in path and 'class="critical-path"' not in path
    # Plans have no cycle, so their waves still stand.
    assert re.search(r'wave-computed">2<', element(html, "wave-01-02", "tr"))


def test_a_plan_cycle_is_named_instead_of_waves(browser, demo):
    first = SubFeature.objects.get(project=demo, key="01-01")
    second = SubFeature.objects.get(project=demo, key="01-02")
    SubFeatureDependency.objects.create(sub_feature=first, depends_on=second)

    html = get_page(browser, demo)

    box = text(element(html, "analytics-cycle", "section"))
    assert "Plans: 01-01 → 01-02 → 01-01" in box or "Plans: 01-02 → 01-01 → 01-02" in box
    assert "Tasks:" not in box
    waves = section(html, "analytics-waves")
    assert "not computed" in waves and 'id="wave-01-01"' not in waves
    assert "not computed" in section(html, "analytics-critical-path")


def test_without_a_cycle_there_is_no_error_box(browser, demo):
    assert 'id="analytics-cycle"' not in get_page(browser, demo)


def test_an_empty_project_says_so(browser, project):
    html = get_page(browser, project)

    assert "This plan has no features yet." in html
    assert "This plan has no tasks yet." in html
    assert "0 Tasks in all" in text(section(html, "analytics-counts"))


# Cost and policy ---------------------------------------------------------------------


@pytest.mark.parametrize("extra", [0, 300])
def test_query_count_does_not_grow_with_the_plan(
    browser, demo, extra, django_assert_max_num_queries
):
    feature = demo.features.get(key="03")
    tasks = Task.objects.bulk_create(
        Task(project=demo, feature=feature, key=f"EXTRA-{i:03d}", name=f"Extra {i}")
        for i in range(extra)
    )
    TaskDependency.objects.bulk_create(
        TaskDependency(task=later, depends_on=earlier)
        for earlier, later in itertools.pairwise(tasks)
    )

    # session, user, membership, the change stamp, the graph on a cache miss (tasks,
    # task and plan dependencies, plans), counts by status, ready count, a page of each
    # of the four task sets, features (count, page), plans (count, page), the names on
    # the critical path
    with django_assert_max_num_queries(20):
        html = get_page(browser, demo)

    assert f"{10 + extra} Tasks in all" in text(section(html, "analytics-counts"))
    assert f"0/{extra + 1}" in text(element(html, "progress-03", "tr"))
    if extra:
        shown = section(html, "analytics-critical-path")
        path = re.findall(r'class="key"[^>]*>([^<]+)</a>', shown)
        # The first hundred of the path, and how many more.
        assert path[0] == "EXTRA-000" and path[-1] == "EXTRA-099"
        assert f"over {extra} tasks" in text(shown)
        assert f"and {extra - 100} more tasks" in text(shown)


def test_the_page_needs_no_inline_script_or_style(browser, demo):
    SubFeature.objects.filter(project=demo, key="01-02").update(wave=3)
    a, b = Task.objects.filter(project=demo, key__in=["03-01-T1", "02.1-01-T1"])
    TaskDependency.objects.create(task=a, depends_on=b)
    TaskDependency.objects.create(task=b, depends_on=a)
    response = browser.get(analytics_url(demo))
    html = response.content.decode()

    assert 'id="analytics-cycle"' in html and 'id="wave-warnings"' in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "style=" not in html
    assert "<style" not in html
    assert "hx-on" not in html
