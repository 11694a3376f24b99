from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from core.errors import DomainError
from planning.importers import FORMATS, ImportSource
from planning.importers.document import PlanImportError
from planning.models import Project
from planning.services import project_create
from planning.services.imports import ImportMode, plan_import


class Command(BaseCommand):
    help = (
        "Import a plan into a project: a GSD .planning/ folder or zip, a single NN-MM-PLAN.md, "
        "a Task Master tasks.json or a Markdown PRD. All or nothing; re-importing is idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="slug of the project to import into")
        parser.add_argument("--format", choices=FORMATS, default="auto")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the project first when no project has this slug",
        )
        parser.add_argument(
            "--name", default="", help="the created project's name (default: the slug)"
        )
        parser.add_argument(
            "--mode",
            choices=[mode.value for mode in ImportMode],
            default=ImportMode.ASK.value,
            help="when the plan came from another source: replace it with the file, or "
            "merge the file in (ask: stop with a preview)",
        )
        parser.add_argument(
            "--owner",
            default="",
            help="username of the created project's owner (default: the first superuser)",
        )

    def handle(self, *args: Any, path: Path, project: str, **options: Any) -> None:
        target = Project.objects.filter(slug=project).first()
        create = target is None and options["create"]
        if target is None and not create:
            raise CommandError(
                f"No project with slug {project!r}. Pass --create to create it first."
            )
        owner = _owner(options["owner"]) if create else None
        show = not options["no_progress"]
        with tqdm(total=3, desc="import", unit="step", disable=not show, leave=False) as bar:
            try:
                bar.set_postfix_str(f"reading {path.name}")
                source = ImportSource.from_path(path)
                bar.update()
                bar.set_postfix_str(f"parsing and applying {len(source.files)} files")
                # A project created for the import goes away again if the import fails.
                with transaction.atomic():
                    if owner is not None:
                        target = project_create(
                            owner=owner, name=options["name"] or project, slug=project
                        )
                    assert target is not None
                    outcome = plan_import(
                        project=target,
                        source=source,
                        fmt=options["format"],
                        actor=owner,
                        mode=options["mode"],
                    )
                bar.update()
            except PlanImportError as exc:
                raise CommandError(f"Nothing imported. {exc}") from None
            except (DomainError, ValidationError) as exc:
                message = exc.message if isinstance(exc, DomainError) else "; ".join(exc.messages)
                raise CommandError(
                    f"Nothing imported. The project cannot be created: {message}"
                ) from None
            bar.update()
        if outcome.preview is not None:
            counts = outcome.preview.counts()
            raise CommandError(
                f"Nothing imported. The plan came from another source; {source.name} would "
                f"add {counts['added']}, change {counts['changed']} and (replacing the plan) "
                f"remove {counts['removed']} tasks. Pass --mode replace or --mode merge."
            )
        for warning in outcome.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        version = f"version {outcome.version.number}" if outcome.version else "no new version"
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {source.name} into {target.slug}: {outcome.summary()}; {version}."
            )
        )


def _owner(username: str) -> User:
    users = get_user_model().objects
    owner = (
        users.filter(username=username).first()
        if username
        else users.filter(is_superuser=True, is_active=True).order_by("pk").first()
    )
    if owner is None:
        raise CommandError(
            f"No user {username!r} to own the project."
            if username
            else "No superuser to own the project: pass --owner USERNAME."
        )
    return owner
