"""`crewboard`: drive a local or remote Crewboard from a terminal or a script.

Exit codes: 0 ok, 1 error, 2 usage, 3 nothing ready."""

import click

from cli.commands import account, agent, mcp, plans, projects, runs, tasks


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Drive a Crewboard over its REST API.

    Set up with `crewboard login URL`, then `crewboard use SLUG`. Every command takes
    --json. Exit codes: 0 ok, 1 error, 2 usage, 3 nothing ready."""


for command in (
    account.login,
    account.use,
    projects.projects,
    projects.project_group,
    plans.import_plan,
    plans.export,
    tasks.next_task,
    tasks.list_tasks,
    tasks.show,
    tasks.set_status,
    tasks.add_task,
    tasks.expand,
    agent.claim,
    agent.done,
    agent.fail,
    runs.run_group,
    mcp.mcp,
):
    app.add_command(command)
