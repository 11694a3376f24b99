from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.db.models import Model
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.models import (
    Agent,
    AgentRun,
    AgentState,
    Checkpoint,
    DecisionLog,
    Merge,
    Metric,
    PlanningCycle,
    Review,
    ReviewComment,
    ToolCall,
)
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    AgentStateFactory,
    CheckpointFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def _tool_call() -> ToolCall:
    run = AgentRunFactory(task=TaskFactory())
    started = ToolCall.objects.create(
        project=run.project,
        agent=run.agent,
        run=run,
        task=run.task,
        tool_name="read_file",
        input={"path": "README.md"},
    )
    return ToolCall.objects.create(
        project=run.project,
        agent=run.agent,
        run=run,
        started=started,
        status="succeeded",
        output={"bytes": 120},
        duration_ms=4,
    )


def _planning_cycle() -> PlanningCycle:
    run = AgentRunFactory(kind="planning")
    opened = PlanningCycle.objects.create(
        project=run.project, agent=run.agent, run=run, goals=["split feature 01"]
    )
    return PlanningCycle.objects.create(
        project=run.project,
        agent=run.agent,
        run=run,
        opened=opened,
        status="completed",
        outcomes=["feature 01 split"],
    )


def _decision() -> DecisionLog:
    cycle = _planning_cycle()
    return DecisionLog.objects.create(
        project=cycle.project,
        agent=cycle.agent,
        run=cycle.run,
        task=TaskFactory(project=cycle.project),
        planning_cycle=cycle,
        decision="Split feature 01 in two",
        reasoning={"why": "too large"},
    )


def _metric() -> Metric:
    run = AgentRunFactory(task=TaskFactory())
    return Metric.objects.create(
        project=run.project,
        agent=run.agent,
        run=run,
        task=run.task,
        type="token_usage",
        value=1234,
        metadata={"model": "offline"},
    )


def _review() -> Review:
    run = AgentRunFactory(task=TaskFactory(), branch_name="crewboard/T-1")
    review = Review.objects.create(
        project=run.project,
        task=run.task,
        run=run,
        reviewer_agent=AgentFactory(project=run.project, type="reviewer"),
        verdict="request_changes",
        body="Two things",
    )
    ReviewComment.objects.create(review=review, path="calc.py", line=3, body="Off by one")
    return review


def _merge() -> Merge:
    run = AgentRunFactory(task=TaskFactory(), branch_name="crewboard/T-1")
    return Merge.objects.create(
        project=run.project,
        task=run.task,
        run=run,
        strategy="squash",
        status="waiting",
        branch=run.branch_name,
        base_branch="main",
        message="main has local changes in README.md",
    )


APPEND_ONLY: dict[type[Model], Callable[[], Model]] = {
    Review: _review,
    Merge: _merge,
    ToolCall: _tool_call,
    PlanningCycle: _planning_cycle,
    DecisionLog: _decision,
    Metric: _metric,
}
EDITABLE: dict[type[Model], Callable[[], Model]] = {
    Agent: lambda: AgentFactory(current_task=TaskFactory()),
    AgentRun: lambda: AgentRunFactory(task=TaskFactory()),
    Checkpoint: CheckpointFactory,
    AgentState: AgentStateFactory,
}
# Each builder makes one row with its own related rows, so a missing join shows as N+1.
BUILDERS = {**EDITABLE, **APPEND_ONLY}
by_name = {"ids": lambda model: model.__name__}


def admin_url(model: type[Model] | Model, view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", BUILDERS, **by_name)
def test_changelist_lists_rows(admin_client, model):
    rows = [BUILDERS[model]() for _ in range(3)]

    response = admin_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    listed = {obj.pk for obj in response.context["cl"].result_list}
    assert {row.pk for row in rows} <= listed
    assert admin_url(model, "change", rows[0].pk) in response.content.decode()


@pytest.mark.parametrize("model", BUILDERS, **by_name)
def test_change_view_shows_the_row(admin_client, model):
    row = BUILDERS[model]()

    response = admin_client.get(admin_url(model, "change", row.pk))

    assert response.status_code == 200
    assert response.context["original"].pk == row.pk


@pytest.mark.parametrize("model", EDITABLE, **by_name)
def test_add_page_renders(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 200


@pytest.mark.parametrize("model", BUILDERS, **by_name)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, model
):
    for _ in range(3):
        BUILDERS[model]()
    url = admin_url(model, "changelist")
    admin_client.get(url)
    with CaptureQueriesContext(connection) as baseline:
        admin_client.get(url)
    for _ in range(12):
        BUILDERS[model]()

    with django_assert_max_num_queries(len(baseline)):
        response = admin_client.get(url)
    assert response.context["cl"].result_count >= 15


@pytest.mark.parametrize("model", APPEND_ONLY, **by_name)
class TestAppendOnlyLogs:
    def test_add_is_forbidden(self, admin_client, model):
        assert admin_client.get(admin_url(model, "add")).status_code == 403
        assert admin_client.post(admin_url(model, "add"), {}).status_code == 403

    def test_change_view_is_read_only(self, admin_client, model):
        row = APPEND_ONLY[model]()

        response = admin_client.get(admin_url(model, "change", row.pk))

        assert response.context["title"].startswith("View ")
        assert not response.context["adminform"].form.fields
        assert 'name="_save"' not in response.content.decode()

    def test_posting_a_change_is_forbidden_and_alters_nothing(self, admin_client, model):
        row = APPEND_ONLY[model]()
        before = model_to_dict(row)
        tampered = {name: "tampered" for name in before if name != "id"}

        response = admin_client.post(admin_url(model, "change", row.pk), tampered)

        assert response.status_code == 403
        row.refresh_from_db()
        assert model_to_dict(row) == before

    def test_delete_is_forbidden(self, admin_client, model):
        row = APPEND_ONLY[model]()
        url = admin_url(model, "delete", row.pk)

        assert admin_client.get(url).status_code == 403
        assert admin_client.post(url, {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=row.pk).exists()

    def test_bulk_delete_is_not_offered(self, admin_client, model):
        row = APPEND_ONLY[model]()
        url = admin_url(model, "changelist")

        assert admin_client.get(url).context["action_form"] is None
        admin_client.post(
            url, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [row.pk], "post": "yes"}
        )
        assert model.objects.filter(pk=row.pk).exists()


def test_tool_call_json_is_pretty_printed(admin_client):
    completion = _tool_call()

    started = admin_client.get(admin_url(ToolCall, "change", completion.started_id))
    finished = admin_client.get(admin_url(ToolCall, "change", completion.pk))

    assert "<pre>{\n  &quot;path&quot;: &quot;README.md&quot;\n}</pre>" in started.content.decode()
    assert "<pre>{\n  &quot;bytes&quot;: 120\n}</pre>" in finished.content.decode()


def test_tool_call_changelist_names_the_tool_on_completion_rows(admin_client):
    completion = _tool_call()

    response = admin_client.get(admin_url(ToolCall, "changelist"))

    rows = response.content.decode().split("<tr")
    [completion_row] = [row for row in rows if f"completes #{completion.started_id}" in row]
    assert "read_file" in completion_row


def test_terminating_an_agent_in_the_admin_frees_its_pending_tasks(admin_client):
    agent = AgentFactory(type="external")
    waiting = TaskFactory(project=agent.project, assigned_agent=agent)
    done = TaskFactory(project=agent.project, assigned_agent=agent, status="done")
    url = admin_url(Agent, "change", agent.pk)
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    for name in ("spawned_at", "last_activity_at", "terminated_at"):  # split date and time
        value = data.pop(name, None)
        if value is not None:
            data[f"{name}_0"], data[f"{name}_1"] = value.strftime("%Y-%m-%d %H:%M:%S").split()
    data.update(terminated_at_0="2026-01-02", terminated_at_1="03:04:05")
    data.update(status="terminated", termination_reason="retired")

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    agent.refresh_from_db()
    waiting.refresh_from_db()
    done.refresh_from_db()
    assert agent.status == "terminated"
    assert waiting.assigned_agent is None
    assert done.assigned_agent == agent


def test_a_runs_life_changes_only_through_the_runs_service(admin_client):
    run = AgentRunFactory(task=TaskFactory(), status="running")
    url = admin_url(AgentRun, "change", run.pk)
    assert "status" not in admin_client.get(url).context["adminform"].form.fields

    # A forged post changes nothing: every field of a saved run is read-only here.
    admin_client.post(url, {"status": "succeeded", "error": "", "attempt": 9})
    run.refresh_from_db()
    assert (run.status, run.attempt) == ("running", 1)

    response = admin_client.post(
        admin_url(AgentRun, "changelist"),
        {"action": "cancel_runs", ACTION_CHECKBOX_NAME: [run.pk]},
        follow=True,
    )
    run.refresh_from_db()
    assert run.status == "cancelled" and run.error == "cancelled by admin in the admin"
    assert run.lease_expires_at is None and run.finished_at is not None
    assert "1 run(s) cancelled." in response.content.decode()

    # An action that does not apply says why, run by run.
    response = admin_client.post(
        admin_url(AgentRun, "changelist"),
        {"action": "retry_runs", ACTION_CHECKBOX_NAME: [run.pk]},
        follow=True,
    )
    assert f"Run {run.pk}: Only a failed run can be retried" in response.content.decode()


def test_a_run_added_in_the_admin_is_queued_by_the_runs_service(admin_client):
    agent = AgentFactory()
    response = admin_client.post(
        admin_url(AgentRun, "add"),
        {
            "project": agent.project.pk,
            "agent": agent.pk,
            "kind": "task",
            "attempt": 1,
            "idempotency_key": "tidy-readme",
            "payload": '{"goal": "Tidy the README"}',
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    run = AgentRun.objects.get()
    assert (run.status, run.idempotency_key) == ("queued", "tidy-readme")
    assert run.payload == {"goal": "Tidy the README"}


def test_only_a_finished_run_can_be_deleted_and_never_in_bulk(admin_client):
    running = AgentRunFactory(task=TaskFactory(), status="running")
    finished = AgentRunFactory(task=TaskFactory(), status="failed")

    assert admin_client.get(admin_url(AgentRun, "delete", running.pk)).status_code == 403
    response = admin_client.post(admin_url(AgentRun, "delete", finished.pk), {"post": "yes"})
    assert response.status_code == 302
    assert list(AgentRun.objects.values_list("pk", flat=True)) == [running.pk]
    changelist = admin_client.get(admin_url(AgentRun, "changelist"))
    actions = [name for name, _ in changelist.context["action_form"].fields["action"].choices]
    assert "cancel_runs" in actions and "delete_selected" not in actions
