import json

import pytest

from planning.importers.document import FeatureSpec, PlanDocument, PlanImportError, TaskSpec
from planning.plan_schema import (
    apply_plan_edits,
    generated_plan_schema,
    parse_generated_plan,
    parse_plan_edits,
)

GOOD = {
    "features": [
        {
            "key": "F1",
            "name": "Accounts",
            "sub_features": [
                {
                    "key": "F1-P1",
                    "name": "Sign in",
                    "tasks": [
                        {"key": "F1-P1-T1", "name": "User model", "priority": "high"},
                        {"key": "F1-P1-T2", "name": "Login view", "depends_on": ["F1-P1-T1"]},
                    ],
                }
            ],
        }
    ]
}


def test_schema_is_published_json_schema():
    schema = generated_plan_schema()
    assert schema["type"] == "object" and "features" in schema["properties"]
    assert schema["additionalProperties"] is False


def test_valid_reply_becomes_a_document():
    document = parse_generated_plan(json.dumps(GOOD))
    assert [t.key for t in document.tasks] == ["F1-P1-T1", "F1-P1-T2"]
    assert document.tasks[1].depends_on == ["F1-P1-T1"]
    assert document.tasks[0].priority == "high" and document.tasks[0].sub_feature == "F1-P1"


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("not json", "Invalid JSON"),
        (json.dumps({"features": []}), "features: List should have at least 1 item"),
        (
            json.dumps({"features": [{"key": "F", "name": "x", "sub_features": [], "extra": 1}]}),
            "features.0.extra: Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_replies_are_explained(reply, expected):
    with pytest.raises(PlanImportError, match="does not match the plan schema") as excinfo:
        parse_generated_plan(reply)
    assert expected in str(excinfo.value)


def test_an_explanation_holds_no_nul_even_when_the_reply_s_keys_do():
    """The explanation is stored (a run's error, a chat message's metadata)."""
    reply = {"features": [{"key": "F", "name": "x", "sub_features": [], "ex\u0000tra": 1}]}
    with pytest.raises(PlanImportError) as excinfo:
        parse_generated_plan(json.dumps(reply))
    assert "features.0.ex\ufffdtra: Extra inputs are not permitted" in str(excinfo.value)
    assert "\u0000" not in str(excinfo.value)


def test_reply_with_a_dangling_dependency_is_rejected():
    bad = json.loads(json.dumps(GOOD))
    bad["features"][0]["sub_features"][0]["tasks"][1]["depends_on"] = ["NOPE"]
    with pytest.raises(PlanImportError, match="depends on unknown task 'NOPE'"):
        parse_generated_plan(json.dumps(bad))


def _doc():
    return PlanDocument(
        features=[FeatureSpec(key="F1", name="One")],
        tasks=[
            TaskSpec(key="A", name="a", feature="F1"),
            TaskSpec(key="B", name="b", feature="F1", depends_on=["A"]),
        ],
    )


def test_edits_apply_to_a_copy():
    document = _doc()
    edits = parse_plan_edits(
        [
            {"op": "add", "entity": "task", "key": "C", "fields": {"name": "c", "feature": "F1"}},
            {"op": "add", "entity": "dependency", "task": "C", "depends_on": "B"},
            {"op": "update", "entity": "task", "key": "A", "fields": {"priority": "high"}},
            {"op": "remove", "entity": "task", "key": "B"},
            {"op": "add", "entity": "feature", "key": "F2", "fields": {"name": "Two"}},
        ]
    )
    edited = apply_plan_edits(document, edits)
    assert {t.key: t.depends_on for t in edited.tasks} == {"A": [], "C": []}
    assert edited.tasks[0].priority == "high"
    assert [f.key for f in edited.features] == ["F1", "F2"]
    assert [t.key for t in document.tasks] == ["A", "B"]  # untouched


@pytest.mark.parametrize(
    "edits,message",
    [
        (
            [{"op": "update", "entity": "task", "key": "Z", "fields": {"name": "z"}}],
            "there is no task Z",
        ),
        (
            [{"op": "add", "entity": "task", "key": "A", "fields": {"name": "dup"}}],
            "task A already exists",
        ),
        (
            [{"op": "add", "entity": "dependency", "task": "A", "depends_on": "B"}],
            "dependency cycle",
        ),
        (
            [{"op": "update", "entity": "task", "key": "A", "fields": {"colour": "red"}}],
            "unknown task fields: colour",
        ),
        (
            [{"op": "update", "entity": "task", "key": "A", "fields": {"type": "magic"}}],
            "task type must be one of",
        ),
    ],
)
def test_an_invalid_edit_rejects_the_whole_list(edits, message):
    with pytest.raises(PlanImportError, match=message):
        apply_plan_edits(_doc(), parse_plan_edits(edits))


def test_malformed_edit_list_is_rejected():
    with pytest.raises(PlanImportError, match=r"edits\.0\.op"):
        parse_plan_edits([{"op": "rename", "entity": "task", "key": "A"}])
