from django.db import migrations

from core.shapes import json_fields_repair
from planning import shapes

# Rows saved before the JSON fields' shapes were checked. Versions are immutable: their
# snapshots are read tolerantly instead.
REPAIRS = [
    ("Project", "enabled_tools", shapes.PROJECT_ENABLED_TOOLS, list),
    ("SubFeature", "files_modified", shapes.SUB_FEATURE_FILES_MODIFIED, list),
    ("SubFeature", "must_haves", shapes.SUB_FEATURE_MUST_HAVES, dict),
    ("SubFeature", "extra", shapes.SUB_FEATURE_EXTRA, dict),
    ("Task", "files", shapes.TASK_FILES, list),
    ("Task", "extra", shapes.TASK_EXTRA, dict),
    ("ConversationSession", "data", shapes.CONVERSATION_DATA, dict),
    ("ConversationMessage", "metadata", shapes.MESSAGE_METADATA, dict),
]


class Migration(migrations.Migration):
    dependencies = [("planning", "0010_keys_refuse_control_characters")]

    operations = [
        migrations.RunPython(
            json_fields_repair("planning", REPAIRS), migrations.RunPython.noop, elidable=True
        )
    ]
