"""Listing and creating projects."""

from typing import Annotated

import typer

from cli.errors import reported
from cli.options import Json, person_api
from cli.output import note, print_json, table

project_app = typer.Typer(help="Create projects.", no_args_is_help=True)


@reported
def projects(json_output: Json = False) -> None:
    """List the projects you belong to."""
    page = person_api().json("GET", "projects/", params={"page_size": 500})
    if json_output:
        print_json(page)
        return
    if not page["results"]:
        note("No projects yet: `crewboard project create NAME`.")
        return
    table(
        ["slug", "name", "status", "mode"],
        [(p["slug"], p["name"], p.get("status"), p.get("mode")) for p in page["results"]],
    )


@project_app.command("create")
@reported
def project_create(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    slug: Annotated[
        str, typer.Option(help="Its slug (default: made from the name).", show_default=False)
    ] = "",
    description: Annotated[str, typer.Option(help="What the project is for.")] = "",
    json_output: Json = False,
) -> None:
    """Create a project; you become its owner."""
    body = {"name": name, "description": description}
    if slug:
        body["slug"] = slug
    project = person_api().json("POST", "projects/", body=body)
    if json_output:
        print_json(project)
        return
    note(
        f"Created {project['slug']} ({project['name']}). "
        f"Make it the default: crewboard use {project['slug']}"
    )
