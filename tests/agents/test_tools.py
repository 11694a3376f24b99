import pytest

from agents.tools import ToolContext, ToolError, registry
from tests.agent_tools import temporary_tool
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_low_risk_tools_are_on_and_others_need_enabling(project):
    with temporary_tool("shell_test", risk="high"):
        assert "shell_test" not in {t.name for t in registry.for_project(project)}
        project.enabled_tools = ["shell_test"]
        assert "shell_test" in {t.name for t in registry.for_project(project)}
        assert "finish" in {t.name for t in registry.for_project(project)}


def test_update_task_status_refuses_another_agents_task(project):
    mine, other = AgentFactory(project=project), AgentFactory(project=project)
    TaskFactory(project=project, key="T", assigned_agent=other)
    context = ToolContext(project=project, agent=mine, run=None, task=None, step=1)
    tool = registry.get("update_task_status")
    with pytest.raises(ToolError, match="belongs to another agent"):
        tool.handler(context, {"key": "T", "status": "done"})
    context.agent = other
    assert tool.handler(context, {"key": "T", "status": "done"}) == {"key": "T", "status": "done"}


def test_arguments_are_checked_against_the_schema():
    tool = registry.get("set_state")
    with pytest.raises(ToolError, match="not valid JSON"):
        tool.parse_arguments("{")
    with pytest.raises(ToolError, match="'key' is a required property"):
        tool.parse_arguments('{"namespace": "n", "value": 1}')
    assert tool.parse_arguments('{"namespace": "n", "key": "k", "value": [1]}')["value"] == [1]


def test_a_tester_or_reviewer_gets_no_tool_that_changes_code(project):
    from agents.tools import registry

    project.enabled_tools = ["read_file", "write_file", "edit_file", "run_command", "git_commit"]

    def names(role):
        return {tool.name for tool in registry.for_agent(project, role)}

    assert {"write_file", "edit_file", "run_command", "git_commit"} <= names("coder")
    assert "run_command" in names("tester")
    assert not names("tester") & {"write_file", "edit_file", "git_commit"}
    assert not names("reviewer") & {"write_file", "edit_file", "git_commit", "run_command"}
    # A reviewer ends its run with its verdict; no other role can give one.
    assert {"read_file", "review_submit"} <= names("reviewer") and "finish" not in names("reviewer")
    assert "review_submit" not in names("coder") | names("tester")
