"""What a command tells the user when it cannot do its job, and the exit code it gives."""

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

OK = 0
ERROR = 1
USAGE = 2
NOTHING_READY = 3

P = ParamSpec("P")
R = TypeVar("R")


class CliError(Exception):
    """A failure with a one-line message for the user (exit code 1). `status` is the
    server's HTTP status when it answered, None when it could not be reached."""

    exit_code = ERROR

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UsageError(CliError):
    """The command was called wrongly, e.g. with no project to act on (exit code 2)."""

    exit_code = USAGE


class NothingReady(CliError):
    """There is no task to hand out (exit code 3)."""

    exit_code = NOTHING_READY


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the command's CliError into its message on stderr and its exit code: the user
    sees one line, never a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            sys.stderr.write(f"crewboard: {exc}\n")
            raise SystemExit(exc.exit_code) from None

    return run
