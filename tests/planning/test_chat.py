"""The planning chat's own side: reading a model's reply against the plan, and applying
or discarding the edits it proposes (the model is asked in agents.services.planner)."""

import json

import pytest

from core.errors import ConflictError, DomainError
from planning import selectors
from planning.importers.document import PlanImportError
from planning.models import ConversationMessage, DevPlanVersion
from planning.services.chat import (
    chat_edits_apply,
    chat_edits_discard,
    chat_message_add,
    chat_reply_read,
    chat_session_create,
)
from planning.services.imports import demo_project_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(user):
    return demo_project_ensure(owner=user)


def _proposal(project, edits) -> ConversationMessage:
    """An assistant message proposing `edits`, as the planner stores one."""
    current = selectors.plan_document(project=project)
    text, metadata = chat_reply_read(
        content=json.dumps({"reply": "Here you are.", "edits": edits}), current=current
    )
    return chat_message_add(
        session=chat_session_create(project=project),
        role=ConversationMessage.Role.ASSISTANT,
        content=text,
        metadata=metadata,
    )


def test_a_reply_without_edits_is_its_text(demo):
    current = selectors.plan_document(project=demo)
    text, metadata = chat_reply_read(
        content=json.dumps({"reply": "All good.", "edits": []}), current=current
    )
    assert (text, metadata) == ("All good.", {})


def test_proposed_edits_are_checked_and_previewed_as_a_diff(demo):
    edits = [{"op": "update", "entity": "task", "key": "03-01-T1", "fields": {"name": "Loop"}}]
    current = selectors.plan_document(project=demo)
    text, metadata = chat_reply_read(
        content=json.dumps({"reply": "Renamed.", "edits": edits}), current=current
    )
    assert text == "Renamed."
    assert metadata["edit_status"] == "proposed"
    assert metadata["edits"] == edits
    assert metadata["preview"]["tasks"]["changed"][0]["key"] == "03-01-T1"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "Invalid JSON"),
        (json.dumps({"edits": []}), "reply"),
        (json.dumps({"reply": "Half\u0000done."}), "NUL character"),
        (
            json.dumps({"reply": "x", "edits": [{"op": "remove", "entity": "task", "key": "NO"}]}),
            "there is no task NO",
        ),
    ],
)
def test_an_unusable_reply_says_what_is_wrong(demo, content, problem):
    current = selectors.plan_document(project=demo)
    with pytest.raises(PlanImportError, match=problem):
        chat_reply_read(content=content, current=current)


def test_edits_that_no_longer_apply_are_rejected_whole(demo):
    reply = _proposal(
        demo,
        [
            {"op": "update", "entity": "task", "key": "03-01-T1", "fields": {"name": "Renamed"}},
            {"op": "remove", "entity": "task", "key": "02.1-01-T1"},
        ],
    )
    demo.tasks.get(key="02.1-01-T1").delete()  # the plan moved on meanwhile
    with pytest.raises(PlanImportError, match=r"edit 2 .*there is no task 02\.1-01-T1"):
        chat_edits_apply(message=reply)
    assert demo.tasks.get(key="03-01-T1").name == "Step loop"
    assert DevPlanVersion.objects.count() == 1


def test_discarded_edits_cannot_be_applied(demo):
    reply = _proposal(demo, [{"op": "remove", "entity": "task", "key": "03-01-T1"}])
    chat_edits_discard(message=reply)
    assert ConversationMessage.objects.get(pk=reply.pk).metadata["edit_status"] == "discarded"
    with pytest.raises(ConflictError):
        chat_edits_apply(message=reply)
    assert demo.tasks.filter(key="03-01-T1").exists()


def test_a_message_without_edits_has_nothing_to_apply(demo):
    message = chat_message_add(
        session=chat_session_create(project=demo),
        role=ConversationMessage.Role.USER,
        content="What is next?",
    )
    with pytest.raises(DomainError, match="proposes no edits"):
        chat_edits_apply(message=message)
