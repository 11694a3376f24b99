from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("planning", "0015_external_dependency"),
    ]

    operations = [
        migrations.AddField(
            model_name="devplanversion",
            name="source_identities",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="feature",
            name="source_identity",
            field=models.CharField(blank=True, default="", max_length=1000),
        ),
        migrations.AddField(
            model_name="subfeature",
            name="source_identity",
            field=models.CharField(blank=True, default="", max_length=1000),
        ),
        migrations.AddField(
            model_name="task",
            name="source_identity",
            field=models.CharField(blank=True, default="", max_length=1000),
        ),
    ]
