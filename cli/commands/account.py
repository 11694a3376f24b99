"""Signing in, and choosing the project later commands act on."""

from dataclasses import replace
from typing import Any

import click

from cli.client import Api
from cli.config import Settings, save_settings, stored_settings
from cli.errors import CliError, reported
from cli.options import json_option, person_api
from cli.output import note, print_json


@click.command()
@click.argument("url")
@click.option(
    "--token",
    default="",
    help="An API token (manage.py drf_create_token, or the admin's Tokens page); "
    "without it, asks for a username and password.",
)
@click.option("--username", default="", help="Your username (asked when missing).")
@json_option
@reported
def login(url: str, token: str, username: str, json_output: bool) -> None:
    """Sign in to a Crewboard at URL (e.g. http://127.0.0.1:8000) and store its URL and
    your token, readable by you only."""
    anonymous = Api(url)
    if not token:
        name = username or click.prompt("Username", err=True)
        password = click.prompt("Password", hide_input=True, err=True)
        answer = anonymous.json(
            "POST", "auth/token/", body={"username": name, "password": password}
        )
        token, username = answer["token"], answer["username"]
    # The token is tried before it is stored, so a wrong one never replaces a good one.
    api = Api(anonymous.url, token=token)
    page = api.json("GET", "projects/", params={"page_size": 1})
    if not isinstance(page, dict) or "results" not in page:
        raise CliError(f"{api.url} answered, but not as Crewboard's API does; check the URL.")
    previous = stored_settings()
    # A default project belongs to the server it was chosen on.
    project = previous.project if previous.url == api.url else ""
    path = save_settings(Settings(url=api.url, token=token, project=project))
    result: dict[str, Any] = {
        "url": api.url,
        "username": username or None,
        "projects": page["count"],
        "config": str(path),
    }
    if json_output:
        print_json(result)
        return
    who = f" as {username}" if username else ""
    note(f"Logged in to {api.url}{who}; {page['count']} project(s). Saved to {path}.")


@click.command()
@click.argument("slug")
@json_option
@reported
def use(slug: str, json_output: bool) -> None:
    """Set the default project (SLUG) for commands run without --project."""
    project = person_api().json(
        "GET", f"projects/{slug}/", not_found=f"No project {slug!r} that you are a member of."
    )
    save_settings(replace(stored_settings(), project=project["slug"]))
    if json_output:
        print_json(project)
        return
    note(f"Default project: {project['slug']} ({project['name']}).")
