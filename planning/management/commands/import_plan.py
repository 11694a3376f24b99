from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from planning.importers import FORMATS, ImportSource
from planning.importers.document import PlanImportError
from planning.models import Project
from planning.services.imports import plan_import


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

    def handle(self, *args: Any, path: Path, project: str, **options: Any) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}.")
        show = not options["no_progress"]
        with tqdm(total=3, desc="import", unit="step", disable=not show, leave=False) as bar:
            try:
                bar.set_postfix_str(f"reading {path.name}")
                source = ImportSource.from_path(path)
                bar.update()
                bar.set_postfix_str(f"parsing and applying {len(source.files)} files")
                outcome = plan_import(project=target, source=source, fmt=options["format"])
                bar.update()
            except PlanImportError as exc:
                raise CommandError(f"Nothing imported. {exc}") from None
            bar.update()
        for warning in outcome.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        version = f"version {outcome.version.number}" if outcome.version else "no new version"
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {source.name} into {target.slug}: {outcome.result.summary()}; {version}."
            )
        )
