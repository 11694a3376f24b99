"""The board: columns by status with filters in the URL, a page of cards per column,
moves by drag (htmx), keyboard or plain form through the task's status service, and
forbidden moves answered with their reason. Queries stay flat as the plan grows."""

import re

import pytest
from django.urls import reverse

from planning.board import CARDS_PER_PAGE, MAX_SHOWN_PAGES
from planning.models import Project, Task
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    FeatureFactory,
    ProjectFactory,
    TaskDependencyFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def board_url(project: Project, query: str = "") -> str:
    url = reverse("planning:project-board", args=[project.slug])
    return f"{url}?{query}" if query else url


def move_url(task: Task) -> str:
    return reverse("planning:task-move", args=[task.project.slug, task.key])


def column_keys(html: str, column: str) -> list[str]:
    match = re.search(
        rf'<ul class="board-cards[^"]*" id="column-{column}"[^>]*>(.*?)</ul>', html, re.S
    )
    assert match, f"no column {column}"
    return re.findall(r'data-key="([^"]+)"', match.group(1))


def bulk_tasks(project: Project, n: int, prefix: str, **fields: object) -> None:
    Task.objects.bulk_create(
        Task(project=project, key=f"{prefix}{i:05d}", name=f"Task {i}", position=i, **fields)
        for i in range(n)
    )


def test_tasks_show_in_the_column_of_their_status(browser, project):
    for key, status in [
        ("P1", "pending"),
        ("D1", "deferred"),
        ("I1", "in_progress"),
        ("R1", "review"),
        ("B1", "blocked"),
        ("X1", "failed"),
        ("F1", "done"),
        ("C1", "cancelled"),
    ]:
        TaskFactory(project=project, key=key, status=status)

    html = browser.get(board_url(project)).content.decode()

    assert sorted(column_keys(html, "todo")) == ["D1", "P1"]
    assert column_keys(html, "in_progress") == ["I1"]
    assert column_keys(html, "review") == ["R1"]
    assert sorted(column_keys(html, "blocked")) == ["B1", "X1"]
    assert sorted(column_keys(html, "done")) == ["C1", "F1"]


def running(task: Task, stage: str) -> None:
    agent = AgentFactory(project=task.project)
    AgentRunFactory(agent=agent, task=task, status="running", stage=stage)


def test_a_task_whose_attempt_runs_its_checks_shows_under_verifying(browser, project):
    coding = TaskFactory(project=project, key="CODE", status="in_progress")
    checked = TaskFactory(project=project, key="CHECK", status="in_progress")
    earlier = TaskFactory(project=project, key="EARLIER", status="in_progress")
    running(coding, "coding")
    running(checked, "verifying")
    # An attempt that ran its checks and ended long ago does not count.
    AgentRunFactory(
        agent=AgentFactory(project=project), task=earlier, status="failed", stage="verifying"
    )

    html = browser.get(board_url(project)).content.decode()

    titles = re.findall(
        r'<h2 id="column-([a-z_]+)-title">([^<]+?) <span class="tab-count">(\d+)', html
    )
    assert [(slug, label) for slug, label, _ in titles] == [
        ("todo", "To do"),
        ("in_progress", "In progress"),
        ("verifying", "Verifying"),
        ("review", "In review"),
        ("blocked", "Blocked"),
        ("done", "Done"),
    ]
    assert dict((slug, int(n)) for slug, _, n in titles)["verifying"] == 1
    assert sorted(column_keys(html, "in_progress")) == ["CODE", "EARLIER"]
    assert column_keys(html, "verifying") == ["CHECK"]
    assert "Checks running" in html
    # Nobody drops a card on Verifying, nor moves one there from its form.
    assert re.search(r'id="column-verifying"(?! data-status)', html)
    assert '<option value="in_progress" selected>Verifying' not in html
    assert html.count(">Verifying</option>") == 0


def test_the_verifying_column_pages_like_the_others(browser, project):
    for i in range(CARDS_PER_PAGE + 2):
        running(TaskFactory(project=project, key=f"V{i:03d}", status="in_progress"), "verifying")

    html = browser.get(board_url(project)).content.decode()
    more = browser.get(board_url(project, "column=verifying&page=2"), **HTMX).content.decode()

    assert len(column_keys(html, "verifying")) == CARDS_PER_PAGE
    assert column_keys(html, "in_progress") == []
    assert re.findall(r'data-key="([^"]+)"', more) == ["V020", "V021"]


def test_a_card_shows_priority_agent_branch_qa_and_markers(browser, project):
    agent = AgentFactory(project=project, name="coder-1")
    dependency = TaskFactory(project=project, key="A", status="pending")
    task = TaskFactory(
        project=project,
        key="B",
        name="Use `uv` **now**",
        status="in_progress",
        priority="high",
        assigned_agent=agent,
        branch_name="crewboard/b",
        qa_iterations=3,
    )
    TaskDependencyFactory(task=task, depends_on=dependency)

    html = browser.get(board_url(project)).content.decode()
    card = re.search(r'<li class="card card--high" id="card-\d+" data-key="B".*?</li>', html, re.S)

    assert card, html
    card_html = card.group(0)
    assert "<code>uv</code>" in card_html and "<strong>now</strong>" in card_html
    assert "coder-1" in card_html
    assert "crewboard/b" in card_html
    assert "3 QA rounds" in card_html
    assert "1 dep" in card_html
    assert "Waiting" in card_html
    assert reverse("planning:task-detail", args=[project.slug, "B"]) in card_html


def test_filters_narrow_every_column_and_stay_in_the_url(browser, project):
    agent = AgentFactory(project=project, name="coder-1")
    feature = FeatureFactory(project=project, key="F1")
    TaskFactory(
        project=project,
        key="KEEP",
        name="Login form",
        feature=feature,
        wave=2,
        priority="high",
        assigned_agent=agent,
        status="in_progress",
    )
    TaskFactory(project=project, key="OTHER", name="Login page", wave=2, priority="high")
    TaskFactory(project=project, key="LOW", name="Login", feature=feature, priority="low")

    query = f"q=login&feature=F1&wave=2&priority=high&assigned_agent={agent.pk}"
    html = browser.get(board_url(project, query)).content.decode()

    keys = [key for column in ("todo", "in_progress", "done") for key in column_keys(html, column)]
    assert keys == ["KEEP"]
    assert 'value="login"' in html
    assert f'<option value="{agent.pk}" selected>' in html
    assert '<option value="high" selected>' in html


def test_invalid_filters_show_an_empty_board_with_the_error(browser, project):
    TaskFactory(project=project, key="T1")

    response = browser.get(board_url(project, "wave=many"))

    assert response.status_code == 200
    html = response.content.decode()
    assert column_keys(html, "todo") == []
    assert "wave:" in html


def test_columns_show_a_page_and_show_more_brings_the_next(browser, project):
    bulk_tasks(project, CARDS_PER_PAGE + 5, "T")

    html = browser.get(board_url(project, "q=T")).content.decode()
    first = column_keys(html, "todo")
    more = browser.get(board_url(project, "q=T&column=todo&page=2"), **HTMX).content.decode()
    plain = browser.get(board_url(project, "q=T&column=todo&page=2")).content.decode()

    assert len(first) == CARDS_PER_PAGE
    assert "?q=T&column=todo&page=2" in html
    assert re.findall(r'data-key="([^"]+)"', more) == [
        f"T{i:05d}" for i in range(CARDS_PER_PAGE, CARDS_PER_PAGE + 5)
    ]
    assert "Show more" not in more
    assert column_keys(plain, "todo") == [
        f"T{i:05d}" for i in range(CARDS_PER_PAGE, CARDS_PER_PAGE + 5)
    ]


@pytest.mark.parametrize("n", [3, 12])
def test_a_live_refresh_keeps_the_pages_a_column_was_opened_to(
    browser, project, n, django_assert_max_num_queries
):
    """The board's refresh names each column opened with "Show more" and how many pages
    it shows; those come back whole, the others at their first page, in the same number
    of queries whatever the number of pages."""
    bulk_tasks(project, n * CARDS_PER_PAGE + 5, "T")
    bulk_tasks(project, CARDS_PER_PAGE + 5, "D", status="done")
    etag = browser.get(board_url(project, "q=T"), **HTMX).headers["ETag"]

    with django_assert_max_num_queries(12):
        html = browser.get(
            board_url(project, f"q=T&shown=todo:{n},nowhere:4,done:x"), **HTMX
        ).content.decode()

    assert column_keys(html, "todo") == [f"T{i:05d}" for i in range(n * CARDS_PER_PAGE)]
    assert f"?q=T&column=todo&page={n + 1}" in html
    # A column not named stays at its first page.
    assert len(column_keys(html, "done")) == CARDS_PER_PAGE
    # The refresh asks with its filters alone: `shown` is not one of them.
    assert 'hx-get="/projects/crewboard/board/?q=T"' in html
    # Opened columns are another answer, not the ETag of the folded board.
    again = browser.get(board_url(project, f"q=T&shown=todo:{n}"), HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert again.status_code == 200


def test_a_column_shows_at_most_so_many_pages_again(browser, project):
    bulk_tasks(project, (MAX_SHOWN_PAGES + 2) * CARDS_PER_PAGE, "T")

    html = browser.get(board_url(project, "shown=todo:999"), **HTMX).content.decode()

    assert len(column_keys(html, "todo")) == MAX_SHOWN_PAGES * CARDS_PER_PAGE
    assert f"column=todo&page={MAX_SHOWN_PAGES + 1}" in html


def test_an_unknown_column_is_404(browser, project):
    assert browser.get(board_url(project, "column=nowhere&page=2"), **HTMX).status_code == 404


def test_board_queries_and_size_stay_flat_as_the_plan_grows(
    browser, project, django_assert_max_num_queries
):
    feature = FeatureFactory(project=project, key="F1")
    bulk_tasks(project, 30, "S", feature=feature)
    with django_assert_max_num_queries(20) as small:
        browser.get(board_url(project))
    for status in ("pending", "in_progress", "review", "blocked", "done"):
        bulk_tasks(project, 400, status[:2].upper(), status=status, feature=feature)
    agent = AgentFactory(project=project)
    for task in project.tasks.filter(status="in_progress")[: CARDS_PER_PAGE + 5]:
        AgentRunFactory(agent=agent, task=task, status="running", stage="verifying")

    with django_assert_max_num_queries(len(small.captured_queries)):
        response = browser.get(board_url(project))

    assert len(response.content) < 220_000
    for column in ("todo", "in_progress", "verifying", "review", "blocked", "done"):
        assert len(column_keys(response.content.decode(), column)) == CARDS_PER_PAGE


def test_viewers_see_cards_without_move_forms(client, project, viewer):
    TaskFactory(project=project, key="T1")
    client.force_login(viewer)

    html = client.get(board_url(project)).content.decode()

    assert 'data-key="T1"' in html
    assert "data-move-url" not in html
    assert 'class="card-move"' not in html


def test_strangers_get_404(browser):
    stranger_project = ProjectFactory()
    task = TaskFactory(project=stranger_project, key="T1")

    assert browser.get(board_url(stranger_project)).status_code == 404
    assert browser.post(move_url(task), {"status": "done"}).status_code == 404
    task.refresh_from_db()
    assert task.status == Task.Status.PENDING


def test_viewers_cannot_move(client, project, viewer):
    task = TaskFactory(project=project, key="T1")
    client.force_login(viewer)

    assert client.post(move_url(task), {"status": "done"}, **HTMX).status_code == 403
    task.refresh_from_db()
    assert task.status == Task.Status.PENDING


def test_htmx_move_answers_with_the_card_and_rolls_up(browser, project):
    feature = FeatureFactory(project=project, key="F1")
    task = TaskFactory(project=project, key="T1", feature=feature)

    response = browser.post(move_url(task), {"status": "done"}, **HTMX)

    assert response.status_code == 200
    assert 'data-key="T1" data-status="done"' in response.content.decode()
    assert "plan-changed" in response.headers["HX-Trigger"]
    task.refresh_from_db()
    feature.refresh_from_db()
    assert task.status == Task.Status.DONE
    assert task.completed_at is not None
    assert feature.status == "done"


def test_forbidden_move_answers_409_with_the_reason(browser, project):
    first = TaskFactory(project=project, key="A1", status="pending")
    second = TaskFactory(project=project, key="A2")
    TaskDependencyFactory(task=second, depends_on=first)

    response = browser.post(move_url(second), {"status": "in_progress"}, **HTMX)

    assert response.status_code == 409
    assert response.content.decode() == (
        "A2 cannot move to in progress: it waits for A1, not done yet."
    )
    second.refresh_from_db()
    assert second.status == Task.Status.PENDING
    assert second.started_at is None


def test_moves_to_blocked_or_back_to_to_do_are_allowed_while_waiting(browser, project):
    first = TaskFactory(project=project, key="A1", status="pending")
    second = TaskFactory(project=project, key="A2")
    TaskDependencyFactory(task=second, depends_on=first)

    assert browser.post(move_url(second), {"status": "blocked"}, **HTMX).status_code == 200
    second.refresh_from_db()
    assert second.status == Task.Status.BLOCKED


def test_plain_form_move_redirects_back_with_a_message(browser, project):
    task = TaskFactory(project=project, key="T1")
    back = board_url(project, "q=T1")

    response = browser.post(move_url(task), {"status": "review", "next": back}, follow=True)

    assert response.redirect_chain[-1][0] == back
    assert "T1 moved to In review." in response.content.decode()
    task.refresh_from_db()
    assert task.status == Task.Status.REVIEW


def test_plain_form_forbidden_move_shows_the_reason(browser, project):
    first = TaskFactory(project=project, key="A1")
    second = TaskFactory(project=project, key="A2")
    TaskDependencyFactory(task=second, depends_on=first)

    response = browser.post(move_url(second), {"status": "done"}, follow=True)

    assert "A2 cannot move to done: it waits for A1, not done yet." in response.content.decode()
    second.refresh_from_db()
    assert second.status == Task.Status.PENDING


def test_next_outside_the_board_is_ignored(browser, project):
    task = TaskFactory(project=project, key="T1")

    response = browser.post(move_url(task), {"status": "review", "next": "https://evil.example/"})

    assert response.status_code == 302
    assert response.headers["Location"] == board_url(project)


def test_an_invalid_status_is_400(browser, project):
    task = TaskFactory(project=project, key="T1")

    response = browser.post(move_url(task), {"status": "finished"}, **HTMX)

    assert response.status_code == 400
    task.refresh_from_db()
    assert task.status == Task.Status.PENDING


@pytest.mark.parametrize("n_tasks", [10, 2000])
def test_the_live_columns_cost_the_same_queries_at_any_size(
    browser, project, n_tasks, django_assert_max_num_queries
):
    """The board's columns asked for again (htmx, after a change): the user, the change
    stamp, the counts and a page per column, at 10 tasks as at 2,000."""
    agent = AgentFactory(project=project)
    bulk_tasks(project, n_tasks, "T", assigned_agent=agent)
    with django_assert_max_num_queries(10):
        response = browser.get(board_url(project), **HTMX)
    assert response.status_code == 200
    assert len(column_keys(response.content.decode(), "todo")) == min(n_tasks, CARDS_PER_PAGE)
    assert response.content.decode().count(agent.name) >= min(n_tasks, CARDS_PER_PAGE)
