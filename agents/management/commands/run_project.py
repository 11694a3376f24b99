from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.models import AgentRun
from agents.services import orchestrator
from core.errors import DomainError
from planning.models import Project


class Command(BaseCommand):
    help = (
        "Run a project: dispatch ready tasks to idle built-in agents (on the Celery workers), "
        "up to the project's concurrency limit. Also pauses, resumes or cancels the run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--pause", action="store_true", help="stop dispatching; runs stop at their next step"
        )
        action.add_argument(
            "--cancel", action="store_true", help="pause and cancel every active run"
        )
        action.add_argument("--status", action="store_true", help="show the project's runs")

    def handle(self, *args: Any, slug: str, **options: Any) -> None:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"No project with slug {slug!r}.")
        if options["pause"]:
            orchestrator.project_run_pause(project=project)
            self.stdout.write(f"Paused {slug}; running agents stop after their current step.")
        elif options["cancel"]:
            count = orchestrator.project_run_cancel(project=project)
            self.stdout.write(f"Cancelled {count} run(s) of {slug}; the project is paused.")
        elif not options["status"]:
            try:
                started = orchestrator.project_run_start(project=project)
            except DomainError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(
                self.style.SUCCESS(f"{slug} is running; started {len(started)} agent run(s).")
            )
        runs = AgentRun.objects.filter(project=project).select_related("agent", "task")[:20]
        for run in runs:
            task = run.task.key if run.task else "-"
            self.stdout.write(f"  run {run.pk:>5}  {run.status:<10} {run.agent.name:<16} {task}")
