"""A coding run end to end, in a real git repository: the coder writes code in its own
worktree through the code tools, the task's checks run, a failure goes back to the
coder, and a pass leaves the task waiting for review. The model is the loopback fake
OpenAI server; the Celery tasks run in this process, in the order workers would."""

import json
import sys
from pathlib import Path

import pytest

from agents.models import AgentRun, Metric, RunLogChunk, ToolCall, Workspace
from agents.services import orchestrator
from tests.factories import AgentFactory, TaskFactory
from tests.fakes.openai_server import completion, tool_call
from tests.gitrepos import checkout_fingerprint, make_repo, run_git

pytestmark = pytest.mark.django_db

CODE_TOOLS = ["read_file", "write_file", "edit_file", "list_files", "run_command", "git_commit"]
TEST_FILE = """import unittest

from calc import add


class AddTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(add(2, 3), 5)
"""


@pytest.fixture
def repo(tmp_path, settings):
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    return make_repo(tmp_path / "repo", {"README.md": "calc\n"})


@pytest.fixture
def coding_project(project, repo):
    project.root_path = str(repo)
    project.enabled_tools = CODE_TOOLS
    project.verify_command = f"{sys.executable} -m unittest -q"
    project.max_qa_iterations = 3
    project.save()
    return project


def _write(call_id: str, path: str, content: str) -> dict:
    return tool_call(call_id, "write_file", {"path": path, "content": content})


def _finish(call_id: str, summary: str) -> dict:
    return tool_call(call_id, "finish", {"summary": summary})


def test_a_coder_fixes_what_the_checks_found_and_the_task_waits_for_review(
    coding_project, repo, fake_llm, eager_celery, django_capture_on_commit_callbacks
):
    before = checkout_fingerprint(repo)
    task = TaskFactory(project=coding_project, key="T1", name="Add numbers", files=["calc.py"])
    AgentFactory(project=coding_project, name="coder-1", type="coder")
    fake_llm.script(
        completion(
            None,
            tool_calls=[
                _write("w1", "calc.py", "def add(a, b):\n    return a - b\n"),
                _write("w2", "test_calc.py", TEST_FILE),
            ],
        ),
        completion(None, tool_calls=[_finish("f1", "add() and its test")]),
        # The checks fail; the coder is told why and fixes the function.
        completion(
            None,
            tool_calls=[
                tool_call(
                    "e1",
                    "edit_file",
                    {"path": "calc.py", "old_text": "a - b", "new_text": "a + b"},
                ),
                tool_call("g1", "git_commit", {"message": "Add add()"}),
            ],
        ),
        completion(None, tool_calls=[_finish("f2", "fixed the sign")]),
    )
    with django_capture_on_commit_callbacks(execute=True):
        [run] = orchestrator.project_run_start(project=coding_project)

    run.refresh_from_db()
    task.refresh_from_db()
    assert (run.status, run.stage) == ("succeeded", "verifying")
    assert task.status == "review" and task.qa_iterations == 1
    workspace = Workspace.objects.get(run=run)
    assert workspace.branch == run.branch_name == task.branch_name == "crewboard/T1-1"
    assert workspace.path == run.worktree_path == task.worktree_path
    assert run_git(repo, "show", "crewboard/T1-1:calc.py") == "def add(a, b):\n    return a + b"

    # What the coder was told after the failing check, in the step after its finish.
    told = [m for m in fake_llm.requests[2].json["messages"] if m["role"] == "user"][-1]
    assert "Verification failed" in told["content"] and "FAILED" in told["content"]

    checks = ToolCall.objects.filter(run=run, tool_name="verify", started__isnull=False)
    assert [c.output["exit_code"] for c in checks.order_by("id")] == [1, 0]
    assert Metric.objects.filter(run=run, type="verify_duration").count() == 2
    log = "".join(RunLogChunk.objects.filter(run=run).values_list("text", flat=True))
    assert "AssertionError" in log and "project check passed" in log
    assert checkout_fingerprint(repo) == before  # the user's checkout is untouched


def test_the_qa_limit_blocks_the_task_for_a_person(
    coding_project, fake_llm, eager_celery, django_capture_on_commit_callbacks, client, user
):
    coding_project.verify_command = "false"
    coding_project.max_qa_iterations = 2
    coding_project.save()
    task = TaskFactory(project=coding_project, key="T1", name="Never passes")
    AgentFactory(project=coding_project, name="coder-1", type="coder")
    fake_llm.script(
        completion(None, tool_calls=[_finish("f1", "tried")]),
        completion(None, tool_calls=[_finish("f2", "tried again")]),
    )
    with django_capture_on_commit_callbacks(execute=True):
        [run] = orchestrator.project_run_start(project=coding_project)
    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == "failed" and "verification failed 2 times" in run.error
    assert task.status == "blocked" and task.qa_iterations == 2
    assert len(fake_llm.requests) == 2  # no third attempt


def test_a_task_whose_verify_is_prose_goes_to_review_without_a_command(
    coding_project, fake_llm, eager_celery, django_capture_on_commit_callbacks
):
    coding_project.verify_command = ""
    coding_project.save()
    task = TaskFactory(project=coding_project, key="T1", verify="The page looks right to a person.")
    AgentFactory(project=coding_project, name="coder-1", type="coder")
    fake_llm.script(completion(None, tool_calls=[_finish("f1", "done")]))
    with django_capture_on_commit_callbacks(execute=True):
        [run] = orchestrator.project_run_start(project=coding_project)
    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == "succeeded" and task.status == "review" and task.qa_iterations == 0
    assert not ToolCall.objects.filter(run=run, tool_name="verify").exists()


def test_a_tasks_own_verify_command_runs_before_the_projects(
    coding_project, fake_llm, eager_celery, django_capture_on_commit_callbacks
):
    coding_project.verify_command = "echo project-check"
    coding_project.save()
    TaskFactory(project=coding_project, key="T1", verify="Run `echo task-check` and see it pass")
    AgentFactory(project=coding_project, name="coder-1", type="coder")
    fake_llm.script(completion(None, tool_calls=[_finish("f1", "done")]))
    with django_capture_on_commit_callbacks(execute=True):
        [run] = orchestrator.project_run_start(project=coding_project)
    checks = ToolCall.objects.filter(run=run, tool_name="verify", started__isnull=True)
    assert [c.input["command"] for c in checks.order_by("id")] == [
        "echo task-check",
        "echo project-check",
    ]
    assert AgentRun.objects.get(pk=run.pk).status == "succeeded"


def test_a_repository_that_cannot_give_a_worktree_fails_the_run_with_the_reason(
    coding_project, repo, fake_llm, eager_celery, django_capture_on_commit_callbacks
):
    task = TaskFactory(project=coding_project, key="T1")
    AgentFactory(project=coding_project, name="coder-1", type="coder")
    # The base branch disappears after the project was saved.
    run_git(repo, "checkout", "-q", "-b", "other")
    run_git(repo, "branch", "-q", "-D", "main")
    with django_capture_on_commit_callbacks(execute=True):
        [run] = orchestrator.project_run_start(project=coding_project)
    run.refresh_from_db()
    assert run.status == "failed" and "main" in run.error
    assert fake_llm.requests == []  # no model was asked
    assert not Workspace.objects.filter(status="active").exists()
    task.refresh_from_db()
    assert task.status == "failed"
    json.dumps(run.result)


def test_a_run_cancelled_while_its_worktree_is_made_leaves_no_worktree(
    coding_project, repo, coding_model, django_capture_on_commit_callbacks
):
    from django.db.models.signals import post_save

    from agents.services import coding, runs

    TaskFactory(project=coding_project, key="T1")
    AgentFactory(project=coding_project, name="coder-1", type="coder")
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=coding_project)
    assert run.stage == "preparing"

    def cancel_meanwhile(sender, instance, created, **kwargs):
        # A person cancels the run just as its worktree is recorded.
        if created:
            runs.run_cancel(run=AgentRun.objects.get(pk=run.pk))

    post_save.connect(cancel_meanwhile, sender=Workspace)
    try:
        with django_capture_on_commit_callbacks():
            assert coding.run_prepare_execute(run_id=run.pk) is None
    finally:
        post_save.disconnect(cancel_meanwhile, sender=Workspace)
    made = Workspace.objects.get(run=run)
    assert made.status == "removed" and not Path(made.path).exists()
    assert AgentRun.objects.get(pk=run.pk).status == "cancelled"
