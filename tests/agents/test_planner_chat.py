"""The planning assistant's chat replies: offline answers, edits a model proposes, and
what becomes of them."""

import json

import pytest

from agents.models import Metric
from agents.services.planner import chat_message_send
from core.errors import ConflictError
from planning.importers.document import PlanImportError
from planning.models import DevPlanVersion, Task
from planning.services.chat import chat_edits_apply, chat_edits_discard, chat_session_create
from planning.services.imports import demo_project_ensure
from tests.fakes.openai_server import completion, usage_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(user):
    return demo_project_ensure(owner=user)


def test_offline_answers_next_blocked_and_progress(demo, user):
    session = chat_session_create(project=demo, actor=user)
    reply = chat_message_send(session=session, content="What is next?", actor=user)
    assert reply.role == "assistant"
    assert "Next up: 01-02-T1 Project-scoped viewsets." in reply.content
    reply = chat_message_send(session=session, content="What is blocked, and what's the progress?")
    assert "7 tasks are waiting" in reply.content
    assert "01 Foundation: 2/4 done" in reply.content
    assert not reply.metadata.get("edits")
    assert session.messages.count() == 4


def test_model_proposes_edits_shown_as_a_diff_then_applied(demo, user, fake_llm):
    edits = [
        {"op": "update", "entity": "task", "key": "03-01-T1", "fields": {"priority": "high"}},
        {
            "op": "add",
            "entity": "task",
            "key": "03-01-T2",
            "fields": {"name": "Lease fencing", "feature": "03", "sub_feature": "03-01"},
        },
        {"op": "add", "entity": "dependency", "task": "03-01-T2", "depends_on": "03-01-T1"},
    ]
    fake_llm.script(completion(json.dumps({"reply": "Here is the change.", "edits": edits})))
    session = chat_session_create(project=demo, actor=user)
    reply = chat_message_send(session=session, content="Add lease fencing after the step loop")
    assert reply.metadata["edit_status"] == "proposed"
    assert reply.metadata["preview"]["tasks"]["added"] == ["03-01-T2"]
    assert not Task.objects.filter(key="03-01-T2").exists()  # nothing changes before applying
    sent = fake_llm.requests[0].json["messages"]
    assert any("PLAN FACTS" in (m["content"] or "") for m in sent)

    version = chat_edits_apply(message=reply, actor=user)
    assert version.number == 2
    task = demo.tasks.get(key="03-01-T2")
    assert list(task.depends_on.values_list("key", flat=True)) == ["03-01-T1"]
    assert demo.tasks.get(key="03-01-T1").priority == "high"
    reply.refresh_from_db()
    assert reply.metadata["edit_status"] == "applied"
    with pytest.raises(ConflictError):
        chat_edits_apply(message=reply)


def test_invalid_edits_go_back_to_the_model(demo, fake_llm):
    bad = [{"op": "remove", "entity": "task", "key": "NOPE"}]
    fake_llm.script(
        completion(json.dumps({"reply": "Removed.", "edits": bad})),
        completion(json.dumps({"reply": "Sorry, there is no such task.", "edits": []})),
    )
    session = chat_session_create(project=demo)
    reply = chat_message_send(session=session, content="Remove task NOPE")
    assert reply.content == "Sorry, there is no such task."
    feedback = fake_llm.requests[1].json["messages"][-1]["content"]
    assert "there is no task NOPE" in feedback


def test_a_chat_reply_with_nul_characters_goes_back_to_the_model(demo, fake_llm):
    fake_llm.script(
        completion(json.dumps({"reply": "Half\u0000done.", "edits": []})),
        completion(json.dumps({"reply": "Done.", "edits": []})),
    )
    session = chat_session_create(project=demo)
    reply = chat_message_send(session=session, content="How far along are we?")
    assert reply.content == "Done."
    assert "NUL character" in fake_llm.requests[1].json["messages"][-1]["content"]


def test_edits_that_no_longer_apply_are_rejected_whole(demo, fake_llm):
    edits = [
        {"op": "update", "entity": "task", "key": "03-01-T1", "fields": {"name": "Renamed"}},
        {"op": "remove", "entity": "task", "key": "02.1-01-T1"},
    ]
    fake_llm.script(completion(json.dumps({"reply": "ok", "edits": edits})))
    reply = chat_message_send(session=chat_session_create(project=demo), content="edit")
    demo.tasks.get(key="02.1-01-T1").delete()  # the plan moved on meanwhile
    with pytest.raises(PlanImportError, match=r"edit 2 .*there is no task 02\.1-01-T1"):
        chat_edits_apply(message=reply)
    assert demo.tasks.get(key="03-01-T1").name == "Step loop"
    assert DevPlanVersion.objects.count() == 1


def test_discard(demo, fake_llm):
    edits = [{"op": "remove", "entity": "task", "key": "03-01-T1"}]
    fake_llm.script(completion(json.dumps({"reply": "ok", "edits": edits})))
    reply = chat_message_send(session=chat_session_create(project=demo), content="drop it")
    chat_edits_discard(message=reply)
    assert reply.__class__.objects.get(pk=reply.pk).metadata["edit_status"] == "discarded"
    with pytest.raises(ConflictError):
        chat_edits_apply(message=reply)
    assert demo.tasks.filter(key="03-01-T1").exists()


def test_unreachable_model_becomes_an_assistant_message(demo, settings):
    settings.LLM_PROVIDER = "openai"
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"
    settings.LLM_API_KEY = "sk"
    settings.LLM_MAX_RETRIES = 0
    reply = chat_message_send(session=chat_session_create(project=demo), content="hello")
    assert reply.content.startswith("The model could not be reached")
    assert reply.metadata["error"]


def test_offline_next_answer_mentions_work_in_progress(demo):
    demo.tasks.filter(key="01-02-T1").update(status="in_progress")
    reply = chat_message_send(session=chat_session_create(project=demo), content="What is next?")
    assert "Nothing is ready to start." in reply.content
    assert "In progress: 01-02-T1." in reply.content


def test_every_model_call_records_its_usage_once(demo, fake_llm):
    bad = [{"op": "remove", "entity": "task", "key": "NOPE"}]
    fake_llm.script(
        completion(json.dumps({"reply": "Removed.", "edits": bad}), usage=usage_body(100, 10)),
        completion(json.dumps({"reply": "No such task.", "edits": []}), usage=usage_body(150, 5)),
    )
    chat_message_send(session=chat_session_create(project=demo), content="Remove task NOPE")

    tokens = Metric.objects.filter(project=demo, type="token_usage").order_by("id")
    assert [m.value for m in tokens] == [110, 155]
    assert {m.metadata["purpose"] for m in tokens} == {"plan_chat"}
    assert Metric.objects.filter(project=demo, type="cost").count() == 2
