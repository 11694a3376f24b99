"""The human-checkpoint inbox: the checkpoints waiting for a person, answering them, and
the count on the Inbox tab."""

import json
import re

import pytest
from django.urls import reverse

from agents.models import DecisionLog
from planning.models import Task
from tests.agents.views.pages import HTMX, messages_of, url
from tests.factories import TaskDependencyFactory, TaskFactory

pytestmark = pytest.mark.django_db


def inbox_section(html: str, title_id: str) -> str:
    match = re.search(rf'<section [^>]*aria-labelledby="{title_id}">.*?</section>', html, re.S)
    return match.group(0) if match else ""


def test_inbox_shows_what_to_verify_and_the_options(
    browser, project, checkpoint_task, decision_task, later_task
):
    html = browser.get(url("inbox", project)).content.decode()

    ready = inbox_section(html, "inbox-ready-title")
    assert "Check the login page" in ready
    assert "A login page" in ready and "Log in as alice" in ready
    assert 'name="verdict" value="approve"' in ready and 'name="verdict" value="reject"' in ready
    assert "PostgreSQL" in ready and "SKIP LOCKED" in ready and "a server" in ready
    assert "SQLite" in ready and "no server" in ready and "one writer" in ready
    assert 'name="choice" value="pg"' in ready and 'name="choice" value="lite"' in ready
    assert f'hx-post="{url("inbox-answer", project, checkpoint_task.pk)}"' in ready
    assert "Check it" not in ready
    # Not ready: shown apart, greyed, without buttons.
    waiting = inbox_section(html, "inbox-waiting-title")
    assert "Check it" in waiting and "inbox-item--not-ready" in waiting
    assert '<span class="key">T1</span> (pending)' in waiting
    assert "<form" not in waiting and "<button" not in waiting


def test_checkpoint_text_is_rendered_as_markdown(browser, project):
    TaskFactory(
        project=project,
        key="CP9",
        name="Check `make run` **twice**",
        description="- first\n- second <b>raw</b>",
        type=Task.Type.HUMAN_VERIFY,
    )
    ready = inbox_section(browser.get(url("inbox", project)).content.decode(), "inbox-ready-title")
    assert "Check <code>make run</code> <strong>twice</strong>" in ready
    assert "<li>first</li>" in ready
    assert "&lt;b&gt;raw&lt;/b&gt;" in ready


def test_approving_logs_a_decision_and_removes_the_item(browser, project, checkpoint_task):
    response = browser.post(
        url("inbox-answer", project, checkpoint_task.pk),
        {"verdict": "approve", "note": "works for me"},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="inbox">')
    assert "You approved CP1." in html
    assert "Check the login page" not in html
    assert json.loads(response.headers["HX-Trigger"]) == {"inbox-changed": {}}
    assert Task.objects.get(pk=checkpoint_task.pk).status == Task.Status.DONE
    decision = DecisionLog.objects.get(task_id=checkpoint_task.pk)
    assert decision.decision == "alice approved CP1: Check the login page"
    assert decision.reasoning["approved"] is True
    assert decision.reasoning["note"] == "works for me"


def test_rejecting_blocks_the_task(browser, project, checkpoint_task):
    response = browser.post(
        url("inbox-answer", project, checkpoint_task.pk),
        {"verdict": "reject", "note": "button missing"},
        **HTMX,
    )

    html = response.content.decode()
    assert "You rejected CP1; it is blocked now." in html
    assert "Check the login page" not in inbox_section(html, "inbox-ready-title")
    assert "Check the login page" in inbox_section(html, "inbox-aside-title")
    assert Task.objects.get(pk=checkpoint_task.pk).status == Task.Status.BLOCKED
    decision = DecisionLog.objects.get(task_id=checkpoint_task.pk)
    assert (
        decision.reasoning["approved"] is False and decision.reasoning["note"] == "button missing"
    )


def test_choosing_an_option(browser, project, decision_task):
    response = browser.post(url("inbox-answer", project, decision_task.pk), {"choice": "lite"})

    assert response.status_code == 302
    assert Task.objects.get(pk=decision_task.pk).status == Task.Status.DONE
    decision = DecisionLog.objects.get(task_id=decision_task.pk)
    assert decision.reasoning["choice"] == "lite" and decision.reasoning["approved"] is True
    assert "chose lite" in decision.decision
    assert messages_of(browser.get(response.url)) == ["You chose “SQLite” for CP2."]


def test_an_answer_unblocks_the_next_checkpoint(browser, project, checkpoint_task):
    after = TaskFactory(project=project, key="CP9", name="Then this", type=Task.Type.HUMAN_VERIFY)
    TaskDependencyFactory(task=after, depends_on=checkpoint_task)

    html = browser.post(
        url("inbox-answer", project, checkpoint_task.pk), {"verdict": "approve"}, **HTMX
    ).content.decode()

    assert "Then this" in inbox_section(html, "inbox-ready-title")


def test_an_unknown_choice_is_refused_on_the_item(browser, project, decision_task):
    response = browser.post(
        url("inbox-answer", project, decision_task.pk),
        {"choice": "mongo", "note": "keep me"},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 400
    item = re.search(rf'<li [^>]*id="inbox-task-{decision_task.pk}">.*?</form>', html, re.S)
    assert "Choose one of: pg, lite." in item.group(0)
    assert ">keep me</textarea>" in item.group(0)
    assert "HX-Trigger" not in response.headers
    assert Task.objects.get(pk=decision_task.pk).status == Task.Status.PENDING
    assert not DecisionLog.objects.exists()


def test_an_answer_needs_a_verdict(browser, project, checkpoint_task):
    response = browser.post(url("inbox-answer", project, checkpoint_task.pk), {}, **HTMX)

    assert response.status_code == 400
    assert "Approve, reject, or choose one of the options." in response.content.decode()
    assert not DecisionLog.objects.exists()


def test_answering_twice_says_it_is_done(browser, project, checkpoint_task):
    browser.post(url("inbox-answer", project, checkpoint_task.pk), {"verdict": "approve"})

    response = browser.post(
        url("inbox-answer", project, checkpoint_task.pk), {"verdict": "reject"}, **HTMX
    )

    assert response.status_code == 400
    assert "CP1 is already done." in response.content.decode()
    assert DecisionLog.objects.count() == 1
    assert Task.objects.get(pk=checkpoint_task.pk).status == Task.Status.DONE


def test_only_checkpoint_tasks_can_be_answered(browser, project):
    task = TaskFactory(project=project, type=Task.Type.AUTO)

    response = browser.post(url("inbox-answer", project, task.pk), {"verdict": "approve"})

    assert response.status_code == 404
    assert Task.objects.get(pk=task.pk).status == Task.Status.PENDING


def test_the_nav_counts_ready_checkpoints(browser, project, checkpoint_task, later_task):
    page = browser.get(reverse("planning:project-detail", args=[project.slug])).content.decode()
    badge = browser.get(url("inbox-count", project), **HTMX).content.decode()

    assert re.search(
        rf'<span id="inbox-count" class="tab-count" hx-get="{url("inbox-count", project)}" '
        r'hx-trigger="load, inbox-changed from:body"',
        page,
    )
    assert 'hx-trigger="inbox-changed from:body"' in badge  # no "load": it would loop
    assert re.search(r'title="1 checkpoint waiting for you">1</span>$', badge.strip())
    Task.objects.filter(pk=checkpoint_task.pk).update(status=Task.Status.DONE)
    badge = browser.get(url("inbox-count", project), **HTMX).content.decode()
    assert re.search(r'hx-swap="outerHTML"></span>$', badge.strip())


# Tasks blocked after failing their checks ----------------------------------------------


@pytest.fixture
def blocked_task(project):
    from tests.agents.views.run_records import build_run

    task = TaskFactory(project=project, key="Q1", name="Parse dates", status="blocked")
    task.qa_iterations = 3
    task.save()
    build_run(project, steps=1, status="failed", task=task, error="verification failed 3 times")
    return task


def test_a_task_blocked_after_its_checks_waits_in_the_inbox_with_its_reason(
    browser, project, blocked_task, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        html = browser.get(url("inbox", project)).content.decode()
    assert "Blocked after failing their checks" in html and "Parse dates" in html
    assert "verification failed 3 times" in html and "3 failed checks" in html
    count = browser.get(url("inbox-count", project)).content.decode()
    assert ">1<" in count.replace(" ", "")


def test_retrying_a_blocked_task_gives_it_a_fresh_attempt(
    browser, project, blocked_task, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = browser.post(url("inbox-task-retry", project, blocked_task.pk), **HTMX)
    assert response.status_code == 200 and "gets a fresh attempt" in response.content.decode()
    blocked_task.refresh_from_db()
    assert (blocked_task.status, blocked_task.qa_iterations) == ("pending", 0)
    assert len(callbacks) == 1  # a dispatch
    assert DecisionLog.objects.filter(task=blocked_task, decision__contains="retried").exists()


def test_abandoning_a_blocked_task_cancels_it(browser, project, blocked_task):
    response = browser.post(url("inbox-task-abandon", project, blocked_task.pk))
    assert response.status_code == 302
    blocked_task.refresh_from_db()
    assert blocked_task.status == "cancelled"


def test_only_a_blocked_or_failed_task_can_be_retried_and_viewers_cannot(
    browser, viewer, client, project, blocked_task
):
    pending = TaskFactory(project=project, key="P1")
    response = browser.post(url("inbox-task-retry", project, pending.pk), **HTMX)
    assert response.status_code == 400 and "not blocked or failed" in response.content.decode()
    client.force_login(viewer)
    assert client.post(url("inbox-task-abandon", project, blocked_task.pk)).status_code == 403
    blocked_task.refresh_from_db()
    assert blocked_task.status == "blocked"
