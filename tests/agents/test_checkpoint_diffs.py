"""What a restore of a checkpoint would change: its diff against the project now."""

import pytest

from agents import services
from agents.checkpoints import canonical_json, diff_states
from agents.models import Agent
from planning.models import Project
from tests.agents.checkpointing import git, make_repo, mutate, populate

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(project: Project) -> Agent:
    return populate(project)


def test_diff_says_what_a_restore_would_change(project, agent, tmp_path):
    repo = make_repo(tmp_path / "repo")
    project.root_path = str(repo)
    project.save()
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    mutate(project)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q",
        "--allow-empty", "-m", "second")  # fmt: skip

    diff = services.checkpoint_diff(checkpoint=checkpoint).as_dict()

    assert not diff["empty"]
    # Before is now, after is the checkpoint: a restore adds back what was deleted.
    assert diff["plan"]["tasks"]["added"] == ["03-01-T1"]
    assert diff["plan"]["tasks"]["removed"] == ["99-T1"]
    assert diff["plan"]["tasks"]["changed"][0]["fields"]["name"]["after"] != "Renamed task"
    assert diff["plan"]["features"]["changed"][0]["fields"]["name"] == {
        "before": "Planning II",
        "after": "Planning",
    }
    assert ["01-01-T2", "01-01-T1"] in diff["plan"]["dependencies"]["added"]
    tasks = {t["key"]: t["fields"] for t in diff["tasks"]}
    assert set(tasks) == {"01-01-T1", "01-02-T1", "02-01-T1"}
    assert tasks["01-02-T1"]["status"] == {"before": "done", "after": "in_progress"}
    assert tasks["01-02-T1"]["assigned_agent_id"] == {"before": None, "after": agent.pk}
    assert tasks["02-01-T1"]["actual_minutes"] == {"before": None, "after": 42}
    assert "started_at" not in tasks["01-02-T1"]
    assert diff["agent_state"]["added"] == [
        {"namespace": "coder", "key": "notes", "value": ["a", "b"]}
    ]
    assert diff["agent_state"]["removed"] == [{"namespace": "coder", "key": "new", "value": "x"}]
    assert [(c["key"], c["before"], c["after"]) for c in diff["agent_state"]["changed"]] == [
        ("cursor", {"task": "02-01-T1"}, {"task": "01-02-T1", "step": 3}),
        ("flag", True, 1),
    ]
    assert diff["git_commit"] == {
        "before": git(repo, "rev-parse", "HEAD"),
        "after": checkpoint.git_commit,
        "changed": True,
    }
    assert "3 tasks with execution changes" in diff["summary"]


def test_diff_of_an_unchanged_project_is_empty(project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")

    diff = services.checkpoint_diff(checkpoint=checkpoint)

    assert diff.empty
    assert diff.summary() == "no changes"
    assert not diff.commit_changed


def test_canonical_json_does_not_depend_on_key_order():
    a = {"b": [1, {"y": 2, "x": None}], "a": "é"}
    b = {"a": "é", "b": [1, {"x": None, "y": 2}]}

    assert canonical_json(a) == canonical_json(b) == '{"a":"é","b":[1,{"x":null,"y":2}]}'
    assert canonical_json(1) != canonical_json(True)


def test_diff_states_tells_json_values_apart_that_python_calls_equal():
    state = {"format": 1, "plan": {}, "tasks": {}}
    before = {**state, "agent_state": [{"namespace": "n", "key": "k", "value": 1}]}
    after = {**state, "agent_state": [{"namespace": "n", "key": "k", "value": True}]}

    diff = diff_states(before, after)

    assert [(c.before, c.after) for c in diff.agent_state.changed] == [(1, True)]
    assert not diff.empty
