"""Seed the API fuzz run: the person and the external agent schemathesis calls as, in the
demo project that `manage.py bootstrap` imported, with a claimed run that has audit rows.

    python fuzz/seed.py

`fuzz/run.sh` runs it after `manage.py bootstrap`, with the server's environment, and
reads its output: shell assignments of the token, the agent key, the project's slug and
the run's id. The run's tool call also keeps the project from being deleted (audit rows
refer to it), so a fuzzed DELETE cannot take the rest of the run's targets away.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from agents.services.external import external_agent_create, task_claim  # noqa: E402
from agents.services.external_reports import tool_calls_report  # noqa: E402
from planning.models import Project  # noqa: E402

SLUG = "crewboard-demo"


def main() -> None:
    admin = get_user_model().objects.get(username="admin")
    token, _ = Token.objects.get_or_create(user=admin)
    project = Project.objects.get(slug=SLUG)
    issued = external_agent_create(project=project, name="fuzzer")
    run = task_claim(agent=issued.agent)
    if run is None:
        raise SystemExit(f"{SLUG} has no ready task for the fuzzing agent to claim")
    tool_calls_report(
        run=run,
        agent=issued.agent,
        reports=[{"step": 1, "call_id": "seed", "tool_name": "read_file", "status": "succeeded"}],
    )
    print(f"USER_TOKEN={token.key}")
    print(f"AGENT_KEY={issued.key}")
    print(f"PROJECT_SLUG={SLUG}")
    print(f"RUN_ID={run.pk}")


if __name__ == "__main__":
    main()
