"""core.inserts: instances in one prepared statement, on the database the suite runs on."""

import pytest


@pytest.mark.django_db
def test_insert_rows_inserts_in_one_statement_as_save_would(django_assert_num_queries):
    from agents.models import AgentRun, Metric
    from core.inserts import insert_rows
    from tests.factories import AgentRunFactory

    run = AgentRunFactory()
    metrics = [
        Metric(project=run.project, run=run, type="latency", value=n, metadata={"n": n})
        for n in range(3)
    ]
    with django_assert_num_queries(1):
        insert_rows(metrics)

    stored = {m.pk: (m.value, m.metadata) for m in Metric.objects.filter(run=run)}
    assert stored == {m.pk: (float(n), {"n": n}) for n, m in enumerate(metrics)}
    assert all(not m._state.adding for m in metrics)
    # auto_now and auto_now_add fields get their values, as Model.save gives them
    queued = AgentRun(project=run.project, agent=run.agent, idempotency_key="k-1")
    insert_rows([queued])
    assert AgentRun.objects.get(pk=queued.pk).created_at == queued.created_at is not None


@pytest.mark.django_db
def test_insert_rows_saves_the_usual_way_for_a_model_with_save_receivers():
    from django.db.models.signals import post_save

    from agents.models import Metric
    from core.inserts import insert_rows
    from tests.factories import ProjectFactory

    seen = []

    def receiver(sender, instance, created, **kwargs):
        seen.append((instance.pk, created))

    post_save.connect(receiver, sender=Metric)
    try:
        metric = Metric(project=ProjectFactory(), type="latency", value=1)
        insert_rows([metric])
    finally:
        post_save.disconnect(receiver, sender=Metric)
    assert seen == [(metric.pk, True)]


@pytest.mark.django_db
def test_insert_rows_leaves_generated_columns_to_the_database():
    from core.inserts import insert_rows
    from planning.models import Task
    from tests.factories import ProjectFactory

    task = Task(project=ProjectFactory(), key="T1", name="Parse", priority="high")
    insert_rows([task])

    # Naming the generated column in the INSERT would be an error on either database.
    assert Task.objects.get(pk=task.pk).priority_rank is not None


@pytest.mark.django_db
def test_insert_rows_sends_json_the_caller_has_encoded_as_it_is():
    from agents.models import Metric
    from core.inserts import insert_rows
    from tests.factories import AgentRunFactory

    run = AgentRunFactory()
    metric = Metric(project=run.project, run=run, type="latency", value=1, metadata={"a": 1})
    # Not what the instance holds, so the stored value shows which text went in.
    insert_rows([metric], encoded_json={"metadata": '{"b": [2, "\\u00e9"]}'})

    assert Metric.objects.get(pk=metric.pk).metadata == {"b": [2, "é"]}
    with pytest.raises(ValueError, match="one row"):
        insert_rows(
            [Metric(project=run.project, type="latency", value=n) for n in range(2)],
            encoded_json={"metadata": "{}"},
        )
    with pytest.raises(ValueError, match="Not JSON fields of Metric: value"):
        insert_rows(
            [Metric(project=run.project, type="latency", value=2)], encoded_json={"value": "2"}
        )
