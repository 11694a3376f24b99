"""Listing and creating projects."""

import click

from cli.errors import reported
from cli.options import json_option, person_api
from cli.output import note, print_json, table


@click.command()
@json_option
@reported
def projects(json_output: bool) -> None:
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


@click.group("project")
def project_group() -> None:
    """Create projects."""


@project_group.command("create")
@click.argument("name")
@click.option("--slug", default="", help="Its slug (default: made from the name).")
@click.option("--description", default="", help="What the project is for.")
@json_option
@reported
def project_create(name: str, slug: str, description: str, json_output: bool) -> None:
    """Create a project called NAME; you become its owner."""
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
