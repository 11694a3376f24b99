"""Values for a hot insert and instances from a hot read: the same as Django's own."""

from typing import Any

import pytest
from django.db import connection
from django.db.models import Field, Model
from django.db.models.signals import post_init
from django.utils import timezone
from django.utils.translation import gettext_lazy

from agents.models import Metric, ToolCall
from core.db import column_list, instance_from_row
from core.db_values import prepared_values
from planning.models import Task
from tests.factories import AgentRunFactory, ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db


def _djangos_values(instances: list[Model], fields: list[Field[Any, Any]]) -> list[Any]:
    return [
        field.get_db_prep_save(field.pre_save(instance, add=True), connection)
        for instance in instances
        for field in fields
    ]


def _inserted(model: type[Model]) -> list[Field[Any, Any]]:
    # Fields set at insert time (auto_now_add) are stamped anew by each pre_save.
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and not getattr(field, "auto_now_add", False)
    ]


def _typed(values: list[Any]) -> list[tuple[type, Any]]:
    # psycopg's JSON wrappers compare by identity: their content is compared instead.
    return [(type(value), getattr(value, "obj", value)) for value in values]


def test_an_inserts_values_are_djangos_own():
    run = AgentRunFactory()
    started = ToolCall(
        project_id=run.project_id,
        agent_id=run.agent_id,
        run=run,
        task=None,
        step=3,
        call_id="call-1",
        tool_name="get_state",
        input={"namespace": "n", "key": "k"},
    )
    done = ToolCall(
        project_id=run.project_id,
        run_id=run.pk,
        started_id=None,
        tool_name=gettext_lazy("finish"),  # a lazy text, as a form may give
        status=ToolCall.Status.SUCCEEDED,
        output=[1, "two", None],
        error="",
        duration_ms=12,
    )
    metrics = [
        Metric(project=run.project, run=run, type=Metric.Type.COST, value=value, metadata={})
        for value in (0.25, 3, None)
    ]
    for rows in ([started, done], metrics):
        fields = _inserted(type(rows[0]))
        assert _typed(prepared_values(rows, fields, connection)) == _typed(
            _djangos_values(rows, fields)
        )


def test_an_instance_of_a_model_someone_watches_is_built_the_usual_way():
    task = TaskFactory(project=ProjectFactory(), started_at=timezone.now())
    fields = Task._meta.concrete_fields
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT {column_list(fields)} FROM "planning_task" WHERE "id" = %s', [task.pk]
        )
        row = cursor.fetchone()
    seen = []

    def receiver(sender: type[Model], instance: Model, **kwargs: object) -> None:
        seen.append(instance)

    post_init.connect(receiver, sender=Task)
    try:
        built = instance_from_row(Task, fields, row)
    finally:
        post_init.disconnect(receiver, sender=Task)

    assert seen == [built]
    assert (built.pk, built._state.adding, built._state.db) == (task.pk, False, "default")


def test_an_instance_of_some_columns_leaves_the_others_deferred():
    task = TaskFactory(project=ProjectFactory(), name="the name")
    fields = [Task._meta.get_field(name) for name in ("id", "project", "key")]

    built = instance_from_row(Task, fields, [task.pk, task.project_id, task.key])

    assert built.get_deferred_fields() >= {"name", "status"}
    assert (built.key, built.name) == (task.key, "the name")  # read when asked for
