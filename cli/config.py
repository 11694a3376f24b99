"""Where the CLI keeps its server URL, token and default project.

`$XDG_CONFIG_HOME/crewboard/config.toml` (by default `~/.config/crewboard/config.toml`),
readable by its owner only. CREWBOARD_URL, CREWBOARD_TOKEN and CREWBOARD_PROJECT override
what the file says, so a CI job needs no file at all."""

import os
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from cli.errors import CliError, UsageError


@dataclass
class Settings:
    url: str = ""
    token: str = ""
    project: str = ""


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "crewboard" / "config.toml"


def stored_settings() -> Settings:
    """What the config file says, without the environment's overrides."""
    path = config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"Cannot read {path}: {exc}") from None
    return Settings(
        url=str(data.get("url", "")),
        token=str(data.get("token", "")),
        project=str(data.get("project", "")),
    )


def settings() -> Settings:
    """The config file's settings with the environment's overrides applied."""
    stored = stored_settings()
    return Settings(
        url=os.environ.get("CREWBOARD_URL") or stored.url,
        token=os.environ.get("CREWBOARD_TOKEN") or stored.token,
        project=os.environ.get("CREWBOARD_PROJECT") or stored.project,
    )


def save_settings(new: Settings) -> Path:
    """Write the config file, owner-only (it holds a token), replacing it whole."""
    import tomli_w

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    # Created owner-only, so the token is never readable by others, not even for a moment.
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(tomli_w.dumps({k: v for k, v in asdict(new).items() if v}))
    os.chmod(draft, 0o600)
    os.replace(draft, path)
    return path


def project_slug(given: str | None) -> str:
    """The project to act on: --project, else CREWBOARD_PROJECT, else `crewboard use`'s."""
    slug = given or settings().project
    if not slug:
        raise UsageError(
            "No project: pass --project SLUG, or set a default with `crewboard use SLUG`."
        )
    return slug
