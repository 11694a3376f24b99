"""Make a checkout ready to serve: migrate, collect static files, create the admin user
and, on an empty database, the demo projects: Crewboard's own plan (which is why the
command lives in planning) and the coding demo (`manage.py coding_demo`).

Safe to run on every start: each step is a no-op when already done.
"""

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from planning.services.imports import demo_project_ensure


class Command(BaseCommand):
    help = "Migrate, collect static files and create the admin superuser (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin", help="Superuser to create.")
        parser.add_argument(
            "--password-file",
            type=Path,
            default=settings.VAR_DIR / "admin-password.txt",
            help="Where the generated password is saved (mode 600).",
        )
        parser.add_argument("--skip-migrate", action="store_true")
        parser.add_argument("--skip-collectstatic", action="store_true")
        parser.add_argument("--no-demo", action="store_true", help="Don't create the demo project.")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity: int = options["verbosity"]
        if not options["skip_migrate"]:
            call_command("migrate", interactive=False, verbosity=verbosity)
        if not options["skip_collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=min(verbosity, 1))
        admin = self._ensure_admin(options["username"], Path(options["password_file"]))
        if not options["no_demo"]:
            demo = demo_project_ensure(owner=admin)
            if demo is not None:
                self.stdout.write(f"Created the demo project: /projects/{demo.slug}/")
                # By name: the coding demo belongs to agents, which planning does not
                # import. Like the first demo, only on a database that had no project.
                call_command("coding_demo", owner=admin.get_username(), verbosity=verbosity)

    def _ensure_admin(self, username: str, password_file: Path) -> User:
        user_model = get_user_model()
        shown = _display_path(password_file)
        existing = user_model.objects.filter(username=username).first()
        if existing is not None:
            if password_file.exists():
                self.stdout.write(f"Admin user {username!r} exists; its password is in {shown}.")
            else:
                self.stdout.write(
                    f"Admin user {username!r} exists; {shown} is missing. "
                    f"Set a new password with `manage.py changepassword {username}`."
                )
            return existing

        password = secrets.token_urlsafe(18)
        # The file is written inside the transaction so a failed write leaves no
        # admin whose password nobody knows.
        with transaction.atomic():
            admin = user_model.objects.create_superuser(
                username=username, email="", password=password
            )
            _write_private(password_file, password + "\n")
        self.stdout.write(
            self.style.SUCCESS(
                f"Created admin user {username!r} with password: {password}\n"
                f"The password is shown only once; it is saved in {shown} (mode 600)."
            )
        )
        return admin


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)
