"""`crewboard`: drive a local or remote Crewboard from a terminal or a script.

Exit codes: 0 ok, 1 error, 2 usage, 3 nothing ready."""

import typer

from cli.commands import account, agent, mcp, plans, projects, runs, tasks

app = typer.Typer(
    name="crewboard",
    help="Drive a Crewboard over its REST API. Exit codes: 0 ok, 1 error, 2 usage, "
    "3 nothing ready.",
    no_args_is_help=True,
    add_completion=False,
    # Errors are one line (cli.errors.reported); anything else is a bug worth its traceback.
    pretty_exceptions_enable=False,
)

app.command()(account.login)
app.command()(account.use)
app.command()(projects.projects)
app.add_typer(projects.project_app, name="project")
app.command("import")(plans.import_plan)
app.command()(plans.export)
app.command("next")(tasks.next_task)
app.command("list")(tasks.list_tasks)
app.command()(tasks.show)
app.command("set-status")(tasks.set_status)
app.command("add-task")(tasks.add_task)
app.command()(agent.claim)
app.command()(agent.done)
app.command()(agent.fail)
app.add_typer(runs.run_app, name="run")
app.command()(mcp.mcp)
