from django.db import migrations

from core.db import GuardTable

# The content columns whose UPDATE the version table rejects (0002), before and after
# source_identities (0016) joined them.
CONTENT = ("plan_id", "number", "snapshot", "markdown", "change_summary", "created_at")


class Migration(migrations.Migration):
    dependencies = [("planning", "0017_import_job_awaiting_choice")]

    operations = [
        # Going backwards this one runs last, after the next one has dropped the wider
        # guard, and puts 0002's back; going forwards it only reinstalls that guard.
        GuardTable("devplanversion", reject_delete=False, columns=CONTENT, reinstall=True),
        GuardTable("devplanversion", reject_delete=False, columns=(*CONTENT, "source_identities")),
    ]
