from django.db import migrations

from agents import shapes
from core.shapes import json_fields_repair

# Rows saved before the JSON fields' shapes were checked. The append-only audit tables
# (tool calls, decisions, planning cycles, metrics) refuse UPDATE: their readers tolerate
# old rows instead.
REPAIRS = [
    ("Agent", "executor_command", shapes.AGENT_EXECUTOR_COMMAND, list),
    ("AgentRun", "payload", shapes.RUN_PAYLOAD, dict),
    ("AgentRun", "result", shapes.RUN_RESULT, dict),
    ("AgentStep", "reply", shapes.STEP_REPLY, lambda: None),
    ("Checkpoint", "state", shapes.CHECKPOINT_STATE, dict),
    ("AgentState", "value", shapes.AGENT_STATE_VALUE, lambda: None),
    ("Merge", "conflicts", shapes.MERGE_CONFLICTS, list),
]


class Migration(migrations.Migration):
    dependencies = [("agents", "0012_audit_tables_reject_truncate")]

    operations = [
        migrations.RunPython(
            json_fields_repair("agents", REPAIRS), migrations.RunPython.noop, elidable=True
        )
    ]
