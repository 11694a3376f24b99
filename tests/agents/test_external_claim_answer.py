"""A claim's answer over the API is ClaimSerializer's rendering of the claimed run, its
task, plan, memory facts and review feedback, field for field; and a claim without a
body holds its lease for the default length."""

import pytest

from agents.api.external import CLAIM_MEMORY_FACTS, ClaimSerializer, _claimed_plan
from agents.models import AgentRun
from agents.services import reviews
from agents.services.external import DEFAULT_LEASE_SECONDS
from memory.selectors import memory_fact_search
from planning.models import Task
from tests.agents.external_agents import claim, external_agent, url
from tests.factories import (
    MemoryFactFactory,
    SubFeatureFactory,
    TaskDependencyFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def rendered_by_the_serializer(run_id: int) -> dict:
    """The claim's answer as ClaimSerializer renders the run as it is stored now."""
    run = AgentRun.objects.get(pk=run_id)
    task = Task.objects.get(pk=run.task_id)
    # What the claim's answer listed with a query of its own before the claim read them.
    task.dependency_keys = list(task.depends_on.values_list("key", flat=True))
    run.task = task
    return ClaimSerializer().to_representation(
        {
            "run": run,
            "task": task,
            "review_feedback": reviews.changes_requested_feedback(task=task),
            "plan": _claimed_plan(task),
            "memory": memory_fact_search(
                project=run.project, query=task.name, limit=CLAIM_MEMORY_FACTS
            ),
        }
    )


def test_the_answer_is_the_serializers_for_a_task_with_everything(project) -> None:
    _, client = external_agent(project)
    plan = SubFeatureFactory(
        project=project,
        key="01-02",
        objective="Parse plans",
        must_haves={"truths": ["plans parse"]},
        extra={"context": "See the importer."},
    )
    parent = TaskFactory(project=project, key="P", status="in_progress")
    done = TaskFactory(project=project, key="D", status="done", position=5)
    # Listed in the tasks' order (position first), not by key.
    first = TaskFactory(project=project, key="Z", status="done", position=1)
    task = TaskFactory(
        project=project,
        key="P.1",
        name="Write the parser",
        feature=plan.feature,
        sub_feature=plan,
        parent=parent,
        files=["parser.py"],
        extra={"hint": 1},
        complexity=3,
        priority="high",
    )
    TaskDependencyFactory(task=task, depends_on=done)
    TaskDependencyFactory(task=task, depends_on=first)
    MemoryFactFactory(project=project, subject="The parser is strict", confidence=0.9)
    MemoryFactFactory(project=None, subject="Parser errors name the line", confidence=0.5)
    MemoryFactFactory(project=project, subject="Unrelated", confidence=1.0)

    answer = claim(client, project).json()

    assert answer["task"]["key"] == "P.1"
    assert (answer["task"]["parent"], answer["task"]["depends_on"]) == ("P", ["Z", "D"])
    assert answer["plan"]["context"] == "See the importer."
    assert len(answer["memory"]) == 2
    assert answer == rendered_by_the_serializer(answer["run"]["id"])


def test_the_answer_is_the_serializers_for_a_bare_task(project) -> None:
    _, client = external_agent(project)
    TaskFactory(project=project, key="T1", name="Tidy")

    answer = claim(client, project).json()

    assert (answer["plan"], answer["memory"], answer["review_feedback"]) == (None, [], "")
    assert answer == rendered_by_the_serializer(answer["run"]["id"])


def test_a_claim_without_a_body_holds_the_default_lease(project) -> None:
    _, client = external_agent(project)
    TaskFactory(project=project, key="T1")
    TaskFactory(project=project, key="T2")

    answer = client.post(url(project, "tasks/claim/"))  # no body at all

    assert answer.status_code == 201, answer.content
    assert answer.json()["run"]["payload"]["lease_seconds"] == DEFAULT_LEASE_SECONDS


@pytest.mark.parametrize("body", ["[]", "null", '{"lease_seconds": "soon"}'])
def test_a_body_that_is_not_options_is_still_a_400(project, body) -> None:
    _, client = external_agent(project)
    TaskFactory(project=project, key="T1")

    refused = client.generic(
        "POST", url(project, "tasks/claim/"), body, content_type="application/json"
    )

    assert refused.status_code == 400, refused.content
    assert not AgentRun.objects.exists()
