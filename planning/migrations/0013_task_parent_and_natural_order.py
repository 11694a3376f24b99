import django.db.models.deletion
from django.db import migrations, models

from core.text import natural_sort_key

BATCH = 2000


def fill_sort_keys(apps, schema_editor):  # type: ignore[no-untyped-def]
    Task = apps.get_model("planning", "Task")
    changed = []
    for task in Task.objects.only("id", "key").iterator(chunk_size=BATCH):
        task.sort_key = natural_sort_key(task.key)
        changed.append(task)
        if len(changed) == BATCH:
            Task.objects.bulk_update(changed, ["sort_key"])
            changed = []
    Task.objects.bulk_update(changed, ["sort_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("planning", "0012_task_change_stamp_index"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="task",
            options={"ordering": ["position", "sort_key"]},
        ),
        migrations.RemoveIndex(
            model_name="task",
            name="task_next_ready_idx",
        ),
        migrations.RemoveIndex(
            model_name="task",
            name="task_plan_order_idx",
        ),
        migrations.AddField(
            model_name="task",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="subtasks",
                to="planning.task",
            ),
        ),
        migrations.AddField(
            model_name="task",
            name="sort_key",
            field=models.CharField(default="", editable=False, max_length=150),
        ),
        migrations.RunPython(fill_sort_keys, migrations.RunPython.noop),
        migrations.AddField(
            model_name="task",
            name="next_wave",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Case(
                    models.When(sub_feature__isnull=True, then=models.Value(0)),
                    default=models.F("wave"),
                    output_field=models.SmallIntegerField(),
                ),
                output_field=models.SmallIntegerField(),
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["project", "status", "priority_rank", "next_wave", "sort_key"],
                name="task_next_ready_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["sub_feature", "position", "sort_key"], name="task_plan_order_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(("parent", models.F("pk")), _negated=True),
                name="task_parent_not_self",
            ),
        ),
    ]
