"""A run's steps carried out in the test's own process, in order, as workers would."""

from agents.runtime.steps import step_execute


def drive(run, django_capture_on_commit_callbacks, *, limit=10):
    """Run steps in this process, in order, until the run stops (what workers would do)."""
    number = 1
    while number <= limit:
        with django_capture_on_commit_callbacks() as callbacks:
            step_execute(run_id=run.pk, number=number)
        run.refresh_from_db()
        if run.status != "running" or not callbacks:
            return run
        number += 1
    raise AssertionError("the run did not stop")
