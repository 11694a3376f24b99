"""What every importer raises for input it cannot read, and where that input came from.

Below the plan document and its checks, which both name the file and line of a bad row;
importers take both names from planning.importers.document.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """Where a spec came from, for error messages."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class PlanImportError(Exception):
    """Input that cannot become a plan. Names the file, the line and what was expected."""

    def __init__(self, message: str, *, origin: Origin | None = None) -> None:
        self.origin = origin
        self.reason = message
        super().__init__(f"{origin}: {message}" if origin else message)
