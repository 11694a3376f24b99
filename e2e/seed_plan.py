"""Seed the browser tests' plan-editing project: two features, the first with two
sub-features (one with two tasks), and two requirements of which only the first is
covered.

    python e2e/seed_plan.py

`e2e/run.sh` runs it after `manage.py bootstrap`, with the server's environment.
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

from planning import services  # noqa: E402

SLUG = "plan-e2e"


def main() -> None:
    owner = get_user_model().objects.get(username="admin")
    project = services.project_create(owner=owner, name="Plan editing (e2e)", slug=SLUG)
    accounts = services.feature_create(project=project, key="01", name="Accounts", position=0)
    services.feature_create(project=project, key="02", name="Billing", position=1)
    login = services.sub_feature_create(feature=accounts, key="01-01", name="Log in", position=0)
    services.sub_feature_create(feature=accounts, key="01-02", name="Sign up", position=1)
    for number, name in ((1, "Login form"), (2, "Session cookie")):
        services.task_create(
            project=project,
            key=f"01-01-T{number}",
            name=name,
            sub_feature=login,
            position=number - 1,
        )
    services.requirement_create(
        project=project, code="R1", description="People log in", features=[accounts]
    )
    services.requirement_create(project=project, code="R2", description="People pay monthly")


if __name__ == "__main__":
    main()
