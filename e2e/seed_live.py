"""Seed the browser tests' live project, and make the coding demo's coder the built-in
one, and print the live project's external agent key.

    python e2e/seed_live.py

`e2e/run.sh` runs it after `manage.py bootstrap`, with the server's environment.

- The coding demo picks the first coding CLI it finds (Claude Code, Codex) over the
  built-in loop; `make tools` may have put one under var/tools/. The dashboard tests
  expect the built-in coder, so it is set here, whatever is installed.
- live-e2e is running (active), with two tasks and an external agent: the test claims
  and completes LIVE-1 with the agent's key, over the API, while the pages are open.
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

from agents.models import Agent  # noqa: E402
from agents.services.agents import agent_create, agent_update  # noqa: E402
from agents.services.demo import DEMO_SLUG  # noqa: E402
from agents.services.external import agent_key_issue  # noqa: E402
from planning import services  # noqa: E402
from planning.models import Executor, Project  # noqa: E402

SLUG = "live-e2e"
# A running project whose To do column runs to three pages, for "Show more".
MORE_SLUG = "live-more-e2e"
MORE_TASKS = 45


def main() -> None:
    for coder in Agent.objects.filter(project__slug=DEMO_SLUG, type=Agent.Type.CODER):
        agent_update(agent=coder, data={"executor": Executor.BUILTIN, "executor_command": []})
    owner = get_user_model().objects.get(username="admin")
    project = services.project_create(owner=owner, name="Live (e2e)", slug=SLUG)
    feature = services.feature_create(project=project, key="F1", name="Watched live")
    first = services.task_create(
        project=project, key="LIVE-1", name="Claimed by an agent outside", feature=feature
    )
    services.task_create(
        project=project, key="LIVE-2", name="Waits for LIVE-1", feature=feature, depends_on=[first]
    )
    services.project_update(project=project, data={"status": Project.Status.ACTIVE})
    more = services.project_create(owner=owner, name="Long columns (e2e)", slug=MORE_SLUG)
    for n in range(1, MORE_TASKS + 1):
        services.task_create(project=more, key=f"MORE-{n:02d}", name=f"Card {n}", position=n)
    services.project_update(project=more, data={"status": Project.Status.ACTIVE})
    agent = agent_create(project=project, name="outside-1", type=Agent.Type.EXTERNAL)
    print(agent_key_issue(agent=agent).key)


if __name__ == "__main__":
    main()
