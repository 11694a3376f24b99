"""Which model a step asks: the agent's own, its role's, the default; and the fallback."""

import pytest

from agents.runtime.steps import step_execute
from agents.services import runs
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory
from tests.fakes.openai_server import completion, error, tool_call

pytestmark = pytest.mark.django_db


def _first_step_model(project, agent, fake_llm, django_capture_on_commit_callbacks) -> str:
    run = AgentRunFactory(project=project, agent=agent, task=TaskFactory(project=project))
    with django_capture_on_commit_callbacks():
        runs.run_start(run=run)
    fake_llm.script(completion(None, tool_calls=[tool_call("c1", "finish", {"summary": "ok"})]))
    with django_capture_on_commit_callbacks():
        step_execute(run_id=run.pk, number=1)
    return fake_llm.requests[-1].json["model"]


@pytest.mark.parametrize(
    ("own", "by_role", "expected"),
    [
        ("own-model", {"coder": "role-model"}, "own-model"),
        ("", {"coder": "role-model"}, "role-model"),
        ("", {"reviewer": "role-model"}, "default-model"),
    ],
)
def test_the_agents_model_then_its_roles_then_the_default(
    project, fake_llm, settings, django_capture_on_commit_callbacks, own, by_role, expected
):
    settings.LLM_MODEL = "default-model"
    settings.LLM_MODELS = by_role
    agent = AgentFactory(project=project, type="coder", model=own)
    assert _first_step_model(project, agent, fake_llm, django_capture_on_commit_callbacks) == (
        expected
    )


def test_a_failing_model_is_followed_by_the_fallback(
    project, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.LLM_FALLBACK_MODEL = "fallback-model"
    settings.LLM_MAX_RETRIES = 0
    agent = AgentFactory(project=project, type="coder", model="flaky-model")
    run = AgentRunFactory(project=project, agent=agent, task=TaskFactory(project=project))
    with django_capture_on_commit_callbacks():
        runs.run_start(run=run)
    fake_llm.script(
        error(500, "the model is down"),
        completion(None, tool_calls=[tool_call("c1", "finish", {"summary": "ok"})]),
    )
    with django_capture_on_commit_callbacks():
        step_execute(run_id=run.pk, number=1)
    assert [r.json["model"] for r in fake_llm.requests] == ["flaky-model", "fallback-model"]
    run.refresh_from_db()
    assert run.status == "succeeded"
