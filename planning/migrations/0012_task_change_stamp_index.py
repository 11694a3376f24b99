from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("planning", "0011_json_shapes_repaired"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["project", "updated_at"], name="task_change_stamp_idx"),
        ),
    ]
