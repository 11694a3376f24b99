import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from memory.models import MemoryFact
from tests.factories import AgentFactory, MemoryFactFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:memory_memoryfact_changelist")


def _fact() -> MemoryFact:
    agent = AgentFactory()
    return MemoryFactFactory(project=agent.project, agent=agent)


def change_url(fact: MemoryFact) -> str:
    return reverse("admin:memory_memoryfact_change", args=[fact.pk])


def test_changelist_lists_facts(admin_client):
    facts = [_fact() for _ in range(3)]

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert [f.pk for f in response.context["cl"].result_list] == sorted(
        (f.pk for f in facts), reverse=True
    )
    assert change_url(facts[0]) in response.content.decode()


def test_add_and_change_pages_render(admin_client):
    fact = _fact()

    assert admin_client.get(reverse("admin:memory_memoryfact_add")).status_code == 200
    response = admin_client.get(change_url(fact))
    assert response.status_code == 200
    assert response.context["original"] == fact


def test_fact_can_be_edited(admin_client):
    fact = _fact()

    response = admin_client.post(
        change_url(fact),
        {
            "project": fact.project.pk,
            "subject": "Run pytest with -x",
            "body": json.dumps(fact.body),
            "confidence": "0.9",
            "agent": fact.agent.pk,
        },
    )

    assert response.status_code == 302
    fact.refresh_from_db()
    assert (fact.subject, fact.confidence, fact.is_stale) == ("Run pytest with -x", 0.9, False)


def test_global_facts_can_be_filtered(admin_client):
    project_fact = _fact()
    global_fact = MemoryFactFactory(project=None)

    response = admin_client.get(CHANGELIST, {"project__isempty": "1"})

    listed = list(response.context["cl"].result_list)
    assert global_fact in listed
    assert project_fact not in listed


def test_changelist_queries_do_not_grow_with_facts(admin_client, django_assert_max_num_queries):
    for _ in range(3):
        _fact()
    admin_client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as baseline:
        admin_client.get(CHANGELIST)
    for _ in range(12):
        _fact()

    with django_assert_max_num_queries(len(baseline)):
        response = admin_client.get(CHANGELIST)
    assert response.context["cl"].result_count == 15
