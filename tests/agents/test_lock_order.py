"""An external agent's completion racing its own reports, on PostgreSQL with real
connections: both commit, never `deadlock detected`.

The interleaving that used to deadlock is forced, not hoped for: a report holds its run
locked and has inserted its rows; the completion takes the agent's lock and waits for
the run's (seen in pg_stat_activity, not guessed with a sleep); then the report commits,
which checks its rows' foreign keys with FOR KEY SHARE on the agent. The agent's lock
must not block that check.
"""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection, connections, transaction

from agents import services
from agents.models import Agent, AgentRun, ToolCall
from planning.models import Task
from tests.factories import AgentFactory, ProjectFactory, TaskFactory
from tests.hang import HANG_S

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _waits_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def _in_thread(work: Callable[[], Any], errors: list[BaseException]) -> threading.Thread:
    def target() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _claimed_run() -> tuple[Agent, AgentRun]:
    project = ProjectFactory()
    TaskFactory(project=project, key="A")
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    run = services.task_claim(agent=agent)
    assert run is not None
    return agent, run


FINISHES = {
    "complete": lambda run, agent: services.agent_run_complete(
        run=run, agent=agent, attempt=run.attempt, result={"ok": True}
    ),
    "fail": lambda run, agent: services.agent_run_fail(
        run=run, agent=agent, attempt=run.attempt, error="gave up"
    ),
}


@pytest.mark.parametrize("finish", sorted(FINISHES))
def test_a_finish_waiting_behind_a_report_of_the_same_agent_does_not_deadlock(
    finish, append_only_rows_cleared
):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    agent, run = _claimed_run()
    errors: list[BaseException] = []
    reported, commit = threading.Event(), threading.Event()
    finisher_pid: list[int] = []

    def report() -> None:
        with transaction.atomic():
            services.tool_calls_report(
                run=run,
                agent=agent,
                reports=[{"call_id": "c1", "tool_name": "shell", "status": "succeeded"}],
            )
            services.decisions_report(run=run, agent=agent, reports=[{"decision": "go on"}])
            reported.set()
            assert commit.wait(timeout=HANG_S)
        # The foreign keys of the rows inserted above are checked as this commits.

    def finish_run() -> None:
        finisher_pid.append(_backend_pid())
        FINISHES[finish](run, agent)

    reporter = _in_thread(report, errors)
    assert reported.wait(timeout=HANG_S), errors
    finisher = _in_thread(finish_run, errors)
    # The finisher holds the agent and waits for the run the report holds.
    for _ in range(int(HANG_S * 20)):
        if (finisher_pid and _waits_for_a_lock(finisher_pid[0])) or not finisher.is_alive():
            break
        threading.Event().wait(0.05)
    commit.set()
    reporter.join(timeout=HANG_S)
    finisher.join(timeout=HANG_S)

    assert not reporter.is_alive() and not finisher.is_alive()
    assert not [e for e in errors if isinstance(e, OperationalError)], errors
    assert not errors, errors
    run.refresh_from_db()
    agent.refresh_from_db()
    task = Task.objects.get(pk=run.task_id)
    expected = ("succeeded", "done") if finish == "complete" else ("failed", "pending")
    assert (run.status, task.status) == expected
    assert (agent.status, agent.current_task_id) == ("idle", None)
    assert ToolCall.objects.filter(run=run).count() == 2  # the call's start and its completion


@pytest.mark.parametrize("finish", sorted(FINISHES))
def test_finishes_and_reports_racing_freely_all_commit(finish, append_only_rows_cleared):
    """Several agents each finish their run while two threads report on it: every
    request commits, whatever the interleaving turned out to be."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    claimed = [_claimed_run() for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(3 * len(claimed))
    threads = []
    for agent, run in claimed:

        def reports(agent: Agent = agent, run: AgentRun = run) -> None:
            start.wait(timeout=HANG_S)
            for number in range(10):
                services.tool_calls_report(
                    run=run,
                    agent=agent,
                    reports=[
                        {"call_id": f"c{number}", "tool_name": "shell", "status": "succeeded"}
                    ],
                )

        def finishes(agent: Agent = agent, run: AgentRun = run) -> None:
            start.wait(timeout=HANG_S)
            FINISHES[finish](run, agent)

        threads += [_in_thread(reports, errors), _in_thread(reports, errors)]
        threads.append(_in_thread(finishes, errors))
    for thread in threads:
        thread.join(timeout=HANG_S)

    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    for agent, run in claimed:
        run.refresh_from_db()
        agent.refresh_from_db()
        assert run.status == ("succeeded" if finish == "complete" else "failed")
        assert (agent.status, agent.current_task_id) == ("idle", None)
        # Each call once: two reporters raced on every one of them.
        assert ToolCall.objects.filter(run=run, started__isnull=True).count() == 10
