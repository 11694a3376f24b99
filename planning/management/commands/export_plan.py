from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from planning import selectors
from planning.exporters import EXPORT_FORMATS, export_plan
from planning.importers.document import PlanDocument
from planning.models import Project


class Command(BaseCommand):
    help = (
        "Export a project's working plan, or one of its versions, as Markdown, JSON, "
        "a GSD zip or a Task Master tasks.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", choices=EXPORT_FORMATS, required=True)
        parser.add_argument(
            "--plan-version",
            type=int,
            help="version number (default: the working plan)",
        )
        parser.add_argument(
            "-o",
            "--output",
            type=Path,
            help="file to write (default: the export's own name in the current folder)",
        )

    def handle(self, *args: Any, project: str, **options: Any) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}.")
        title = target.name
        if options["plan_version"]:
            try:
                version = selectors.version_get(project=target, number=options["plan_version"])
            except Http404:
                raise CommandError(
                    f"{target.slug} has no version {options['plan_version']}."
                ) from None
            document = PlanDocument.from_snapshot(version.snapshot)
            title = f"{target.name} v{version.number}"
        else:
            document = selectors.plan_document(project=target)
        exported = export_plan(document, fmt=options["format"], title=title)
        output = options["output"] or Path(exported.filename)
        output.write_bytes(exported.content)
        self.stdout.write(self.style.SUCCESS(f"Wrote {output} ({len(exported.content)} bytes)."))
