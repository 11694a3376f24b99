"""The checkpoint pages: the list with its create form, the diff page and restore."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents import services
from agents.models import Checkpoint, DecisionLog
from planning.models import Project, Task
from tests.agents.test_checkpoints import corrupt, make_repo, mutate, populate, state_json
from tests.factories import CheckpointFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def list_url(project: Project) -> str:
    return reverse("agents:checkpoint-list", args=[project.slug])


def diff_url(project: Project, checkpoint: Checkpoint) -> str:
    return reverse("agents:checkpoint-diff", args=[project.slug, checkpoint.pk])


def restore_url(project: Project, checkpoint: Checkpoint) -> str:
    return reverse("agents:checkpoint-restore", args=[project.slug, checkpoint.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def agent(project):
    return populate(project)


def test_anonymous_users_are_sent_to_login(client, project):
    checkpoint = CheckpointFactory(project=project)

    for response in (
        client.get(list_url(project)),
        client.get(diff_url(project, checkpoint)),
        client.post(restore_url(project, checkpoint)),
    ):
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_someone_elses_checkpoints_are_404(browser, project, other_project):
    populate(other_project)
    theirs = services.checkpoint_snapshot(project=other_project, name="theirs")
    Task.objects.filter(project=other_project).update(status="failed")

    assert browser.get(list_url(other_project)).status_code == 404
    assert browser.post(list_url(other_project), {"name": "x"}).status_code == 404
    for slug_project in (project, other_project):
        assert browser.get(diff_url(slug_project, theirs)).status_code == 404
        assert browser.post(restore_url(slug_project, theirs)).status_code == 404
    assert set(other_project.tasks.values_list("status", flat=True)) == {"failed"}
    assert Checkpoint.objects.count() == 1


def test_list_shows_each_checkpoint_linking_to_its_diff(browser, project, other_project):
    mine = CheckpointFactory(
        project=project, name="before merge", reason="risky merge", git_commit="a1b2c3d4e5f6a7b8"
    )
    CheckpointFactory(project=project, name="no repo", git_commit="")
    CheckpointFactory(project=other_project, name="not mine")

    response = browser.get(list_url(project))

    html = response.content.decode()
    assert response.status_code == 200
    assert "before merge" in html and "risky merge" in html and "no repo" in html
    assert "not mine" not in html
    assert '<code class="commit" title="a1b2c3d4e5f6a7b8">a1b2c3d4e5</code>' in html
    assert f'href="{diff_url(project, mine)}"' in html
    assert mine.created_at.strftime("%Y-%m-%d %H:%M") in html
    assert 'id="checkpoint-form"' in html
    # The Checkpoints tab is there, and marked as the current one.
    assert re.search(rf'<a href="{list_url(project)}" aria-current="page">Checkpoints</a>', html)


def test_list_is_paginated_newest_first(browser, project):
    for i in range(30):
        CheckpointFactory(project=project, name=f"cp-{i:02d}")

    first = browser.get(list_url(project)).content.decode()
    second = browser.get(list_url(project) + "?page=2").content.decode()

    assert "cp-29" in first and "cp-05" in first and "cp-04" not in first
    assert "cp-04" in second and "cp-00" in second and "cp-29" not in second


def test_list_query_count_does_not_grow(browser, project):
    def queries(n_checkpoints: int) -> int:
        Checkpoint.objects.all().delete()
        for _ in range(n_checkpoints):
            CheckpointFactory(project=project, git_commit="abc", state={"big": list(range(50))})
        with CaptureQueriesContext(connection) as captured:
            response = browser.get(list_url(project))
        assert response.content.decode().count('<tr id="checkpoint-') == min(n_checkpoints, 25)
        # The list never loads the states.
        assert not any('"state"' in q["sql"] for q in captured.captured_queries)
        return len(captured.captured_queries)

    few, many = queries(3), queries(30)

    assert few == many
    assert many <= 5  # session, user, membership with project, count, rows


def test_create_takes_a_checkpoint_of_the_project(browser, project, agent):
    response = browser.post(list_url(project), {"name": "by hand", "reason": "just in case"})

    assert response.status_code == 302
    assert response.url == list_url(project)
    checkpoint = Checkpoint.objects.get()
    assert (checkpoint.name, checkpoint.reason) == ("by hand", "just in case")
    assert checkpoint.state["tasks"]["01-02-T1"]["status"] == "in_progress"
    page = browser.get(response.url)
    assert "Took checkpoint “by hand”." in messages_of(page)


def test_create_records_the_git_commit(browser, project, tmp_path):
    repo = make_repo(tmp_path / "repo")
    project.root_path = str(repo)
    project.save()

    browser.post(list_url(project), {"name": "c"})

    commit = Checkpoint.objects.get().git_commit
    assert len(commit) == 40
    assert f"{commit[:10]}</code>" in browser.get(list_url(project)).content.decode()


def test_create_from_htmx_redirects_the_client_or_shows_the_error(browser, project):
    created = browser.post(list_url(project), {"name": "quick"}, **HTMX)
    assert created.status_code == 200
    assert created["HX-Redirect"] == list_url(project)

    invalid = browser.post(list_url(project), {"name": ""}, **HTMX)
    html = invalid.content.decode()
    assert invalid.status_code == 400
    assert html.lstrip().startswith('<form id="checkpoint-form"')
    assert "This field is required." in html
    assert Checkpoint.objects.count() == 1


def test_viewers_see_checkpoints_but_cannot_create_or_restore(client, project, viewer, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    mutate(project)
    before = state_json(project)
    client.force_login(viewer)

    listed = client.get(list_url(project)).content.decode()
    diff = client.get(diff_url(project, checkpoint))

    assert "c</a>" in listed and 'id="checkpoint-form"' not in listed
    assert diff.status_code == 200
    assert restore_url(project, checkpoint) not in diff.content.decode()
    assert client.post(list_url(project), {"name": "mine"}).status_code == 403
    assert client.post(restore_url(project, checkpoint)).status_code == 403
    assert Checkpoint.objects.count() == 1
    assert state_json(project) == before


def test_diff_page_shows_what_a_restore_would_change(browser, project, agent):
    Task.objects.filter(project=project, key="02-02-T1").update(priority="high")
    checkpoint = services.checkpoint_snapshot(project=project, name="before", reason="why not")
    mutate(project)
    Task.objects.filter(project=project, key="02-02-T1").update(priority="low")

    response = browser.get(diff_url(project, checkpoint))

    html = response.content.decode()
    assert response.status_code == 200
    assert "why not" in html
    summary = re.search(r'id="checkpoint-summary">(.*?)</p>', html, re.S).group(1)
    assert "1 task added" in summary and "3 tasks with execution changes" in summary
    # Plan: the deleted task comes back, the added one goes, the renamed one is renamed back.
    assert re.search(r'diff-row--added"><span class="key">03-01-T1</span>', html)
    assert re.search(r'diff-row--removed"><span class="key">99-T1</span>', html)
    assert "Renamed task" in html
    renamed = re.search(r'<caption><span class="key">02-02-T1</span>.*?</table>', html, re.S)
    assert re.findall(r'diff-line--\w+">(Low|High|low|high)<', renamed.group(0)) == ["Low", "High"]
    # Execution: the task's values now and after the restore, with the agent by name.
    execution = re.search(r'id="checkpoint-execution">(.*?)</section>', html, re.S).group(1)
    assert "01-02-T1" in execution and "coder-1" in execution
    assert '<span class="diff-line--removed">Done</span>' in execution  # labels, as elsewhere
    assert '<span class="diff-line--added">In Progress</span>' in execution
    assert '<span class="diff-line--added">42</span>' in execution
    assert '<span class="diff-line--added">2025-03-01 10:30:15 UTC</span>' in execution
    assert "2025-03-01 09:30:15 UTC" not in execution  # started_at did not change
    # Agent state: deleted, re-created and changed entries.
    agent_state = re.search(r'id="checkpoint-agent-state">(.*?)</section>', html, re.S).group(1)
    assert "coder/notes" in agent_state and "[&quot;a&quot;, &quot;b&quot;]" in agent_state
    assert "coder/new" in agent_state and "&quot;x&quot;" in agent_state
    flag = re.search(r"planner/flag</th>(.*?)</tr>", agent_state, re.S).group(1)
    assert re.findall(r'diff-line--\w+">(.*?)</span>', flag) == ["true", "1"]
    assert "the project's folder is not a git repository now" in html
    assert f'action="{restore_url(project, checkpoint)}"' in html
    assert "style=" not in html and "hx-on" not in html


def test_diff_page_of_an_unchanged_project(browser, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")

    html = browser.get(diff_url(project, checkpoint)).content.decode()

    assert 'id="checkpoint-same"' in html
    assert 'id="checkpoint-execution"' not in html


def test_diff_page_of_a_hand_made_checkpoint_explains_and_offers_no_restore(browser, project):
    checkpoint = CheckpointFactory(project=project, name="legacy", state={"tasks": {}})

    response = browser.get(diff_url(project, checkpoint))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="checkpoint-error"' in html and "cannot be used" in html
    assert restore_url(project, checkpoint) not in html


def test_restore_puts_the_state_back_and_says_what_changed(browser, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="before")
    captured = json.dumps(checkpoint.state, sort_keys=True)
    mutate(project)
    decisions = DecisionLog.objects.count()

    response = browser.post(restore_url(project, checkpoint), follow=True)

    assert response.redirect_chain == [(list_url(project), 302)]
    [message] = messages_of(response)
    assert message.startswith("Restored checkpoint “before”: 1 feature changed")
    assert message.endswith("Files and git were not touched.")
    assert state_json(project) == captured
    assert DecisionLog.objects.count() == decisions + 1


def test_restore_from_htmx_redirects_the_client(browser, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="before")
    Task.objects.filter(project=project).update(status="failed")

    response = browser.post(restore_url(project, checkpoint), **HTMX)

    assert response["HX-Redirect"] == list_url(project)
    assert Task.objects.get(project=project, key="01-02-T1").status == "in_progress"


def test_a_failed_restore_changes_nothing_and_says_why(browser, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="broken")
    corrupt(checkpoint, lambda state: state["tasks"]["01-01-T1"].update(status="bogus"))
    mutate(project)
    before, decisions = state_json(project), DecisionLog.objects.count()

    response = browser.post(restore_url(project, checkpoint), follow=True)

    assert response.redirect_chain == [(diff_url(project, checkpoint), 302)]
    [message] = messages_of(response)
    assert "cannot be restored" in message
    assert state_json(project) == before
    assert DecisionLog.objects.count() == decisions
