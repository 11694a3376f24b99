"""The shapes of the agents models' JSON fields, declared once for every writer.

The models list them in `json_shapes`, so the services' `full_clean`/`clean_fields`
(and the admin) check them; the batch reports of external agents, which insert many rows
at once, check each item against the same shapes. The audit tables are append-only: a
row stored before its shape was checked stays, so their readers use `tolerant`.
"""

from typing import Any

from core.shapes import JsonShape, json_object, string_list

# Any JSON value, its top level capped: the text a tool returns, a value an agent keeps.
ANY_JSON: dict[str, Any] = {
    "maxLength": 1_000_000,
    "maxItems": 10_000,
    "maxProperties": 1_000,
}
# What a tool returns is stored whole (the built-in step loop caps it first): generous caps.
TOOL_OUTPUT: dict[str, Any] = {
    "maxLength": 10_000_000,
    "maxItems": 100_000,
    "maxProperties": 100_000,
}

TOOL_CALL_INPUT = JsonShape(json_object(max_properties=1_000), name="input")
TOOL_CALL_OUTPUT = JsonShape(TOOL_OUTPUT, name="output")
DECISION_REASONING = JsonShape(json_object(max_properties=1_000), name="reasoning")
METRIC_METADATA = JsonShape(json_object(max_properties=200), name="metadata")
# Goals and outcomes are shown as a list of lines.
CYCLE_GOALS = JsonShape(string_list(max_items=1_000, item={"type": "string"}), name="goals")
CYCLE_OUTCOMES = JsonShape(string_list(max_items=1_000, item={"type": "string"}), name="outcomes")

RUN_PAYLOAD = JsonShape(json_object(max_properties=200), name="payload")
RUN_RESULT = JsonShape(json_object(max_properties=1_000), name="result")
STEP_REPLY = JsonShape({"type": ["object", "null"], "maxProperties": 100}, name="reply")
AGENT_EXECUTOR_COMMAND = JsonShape(
    string_list(max_items=200, item={"type": "string", "maxLength": 10_000}),
    name="executor_command",
)
CHECKPOINT_STATE = JsonShape(json_object(max_properties=100), name="state")
AGENT_STATE_VALUE = JsonShape(ANY_JSON, name="value")
MERGE_CONFLICTS = JsonShape(string_list(max_items=10_000), name="conflicts")
