"""The coding demo `make run` creates, and the README's example of a coding agent of your
own (the `command` executor) fixing its task end to end."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from agents.models import Agent, AgentRun, RunLogChunk
from agents.services import orchestrator
from agents.services.demo import DEMO_SLUG, coding_demo_ensure
from planning.models import Project
from tests.gitrepos import checkout_fingerprint, run_git

pytestmark = pytest.mark.django_db

EXAMPLE = Path(django_settings.BASE_DIR) / "examples" / "demo_coder.py"


def test_the_demo_is_a_repository_whose_test_fails_and_a_project_to_fix_it(user, tmp_path):
    project = coding_demo_ensure(owner=user, path=tmp_path / "demo-repo")
    repo = Path(project.root_path)
    assert run_git(repo, "branch", "--show-current") == "main"
    assert run_git(repo, "status", "--porcelain") == ""
    check = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tests"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1 and "ZeroDivisionError" in check.stderr
    [task] = project.tasks.all()
    assert task.key == "CALC-1" and task.files == ["calc/stats.py"]
    assert project.agents.get().type == Agent.Type.CODER
    # Once: not again, nor after someone deletes the project.
    assert coding_demo_ensure(owner=user, path=tmp_path / "demo-repo") is None
    Project.objects.filter(slug=DEMO_SLUG).delete()
    assert coding_demo_ensure(owner=user, path=tmp_path / "demo-repo") is None


def test_the_command_refuses_an_unknown_owner(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("coding_demo", owner="nobody")


def test_a_script_of_your_own_fixes_the_demo_task_and_the_checks_pass(
    user, tmp_path, settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    project = coding_demo_ensure(owner=user, path=tmp_path / "demo-repo")
    before = checkout_fingerprint(Path(project.root_path))
    project.agents.update(
        executor="command",
        executor_command=[sys.executable, str(EXAMPLE), "{worktree}", "{prompt_file}"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        [run] = orchestrator.project_run_start(project=project)
    run = AgentRun.objects.get(pk=run.pk)
    task = run.task
    assert run.status == "succeeded", run.error
    assert task.status == "review" and task.qa_iterations == 0
    log = "".join(RunLogChunk.objects.filter(run=run).values_list("text", flat=True))
    assert "mean() now returns 0.0" in log and "project check" not in log
    assert "task check passed" in log
    fixed = (Path(run.worktree_path) / "calc" / "stats.py").read_text()
    assert "return 0.0" in fixed.split("def median")[0]
    assert checkout_fingerprint(Path(project.root_path)) == before
