"""Write static/css/pygments.css, the syntax colours of diffs, from Pygments' styles."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.diffview.highlight import stylesheet

TARGET = Path(settings.BASE_DIR) / "static" / "css" / "pygments.css"


class Command(BaseCommand):
    help = "Write static/css/pygments.css (the diff's syntax colours) from Pygments' styles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; fail when the file differs from what would be written "
            "(after a Pygments upgrade, say).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        css = stylesheet()
        current = TARGET.read_text() if TARGET.exists() else ""
        if options["check"]:
            if current != css:
                raise CommandError(f"{TARGET} is out of date: run `manage.py pygments_css`.")
            self.stdout.write(f"{TARGET} is up to date.")
            return
        TARGET.write_text(css)
        self.stdout.write(f"Wrote {TARGET}.")
