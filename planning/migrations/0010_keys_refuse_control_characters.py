from django.db import migrations, models

import core.text


class Migration(migrations.Migration):
    dependencies = [
        ("planning", "0009_devplanversion_append_only"),
    ]

    operations = [
        migrations.AlterField(
            model_name="feature",
            name="key",
            field=models.CharField(
                max_length=50, validators=[core.text.validate_no_control_characters]
            ),
        ),
        migrations.AlterField(
            model_name="subfeature",
            name="key",
            field=models.CharField(
                max_length=50, validators=[core.text.validate_no_control_characters]
            ),
        ),
        migrations.AlterField(
            model_name="task",
            name="key",
            field=models.CharField(
                max_length=50, validators=[core.text.validate_no_control_characters]
            ),
        ),
    ]
