"""Create the coding demo: a small repository under var/ with a failing test, and a
project whose coder can fix it. A no-op when the demo project exists."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.services.demo import coding_demo_ensure
from core import git


class Command(BaseCommand):
    help = "Create the coding demo repository and project (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", default="admin", help="The demo project's owner.")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"There is no user {options['owner']!r} to own the demo.")
        try:
            project = coding_demo_ensure(owner=owner)
        except git.GitError as exc:
            raise CommandError(f"Could not make the demo repository: {exc.message}") from exc
        if project is not None:
            self.stdout.write(f"Created the coding demo: /projects/{project.slug}/")
