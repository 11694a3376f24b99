"""Seed the browser tests' board project: three tasks to do, one of which waits for
another, so that a drag, a keyboard move and a forbidden move each have a card.

    python e2e/seed_board.py

`e2e/run.sh` runs it after `manage.py bootstrap`, with the server's environment.
- BRD-1 is dragged to In progress.
- BRD-2 waits for BRD-3: dragging it to Done is refused and it snaps back.
- BRD-3 is moved to In review from the keyboard, with its "Move to" form.
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

SLUG = "board-e2e"


def main() -> None:
    owner = get_user_model().objects.get(username="admin")
    project = services.project_create(owner=owner, name="Board (e2e)", slug=SLUG)
    services.task_create(project=project, key="BRD-1", name="Drag me to **In progress**")
    third = services.task_create(project=project, key="BRD-3", name="Move me from the keyboard")
    services.task_create(
        project=project, key="BRD-2", name="I wait for BRD-3", depends_on=[third], priority="high"
    )


if __name__ == "__main__":
    main()
