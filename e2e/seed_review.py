"""Seed the browser tests' review project: a git repository of its own and two tasks
waiting for review, each with a coder's succeeded attempt on a branch in a worktree.

    python e2e/seed_review.py FOLDER

`e2e/run.sh` runs it after `manage.py bootstrap`, with the server's environment (its
database and WORKSPACES_DIR), and prints the repository's path. The project stays in
planning: asked for changes, an attempt then waits for its agent instead of running
again, so nothing moves under the test but what it does itself.

- REV-1 is the diff to read and comment on: a changed module with a long line, a
  deleted file, a rename, a whitespace-only change, a file on a long path and a large
  data file that the page shows collapsed.
- REV-2 is a small change that the test approves and sees merged into `main`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402

from agents.models import Agent, AgentRun, ToolCall  # noqa: E402
from agents.services.agents import agent_create  # noqa: E402
from agents.services.workspaces import workspace_create  # noqa: E402
from planning import services as planning_services  # noqa: E402
from planning.models import Project, Task  # noqa: E402

SLUG = "review-e2e"
IDENTITY = {
    "GIT_AUTHOR_NAME": "E2E",
    "GIT_AUTHOR_EMAIL": "e2e@crewboard.invalid",
    "GIT_COMMITTER_NAME": "E2E",
    "GIT_COMMITTER_EMAIL": "e2e@crewboard.invalid",
}
LONG_PATH = (
    "src/shop/integrations/payment_providers/a_provider_with_a_rather_long_name/"
    "webhook_signature_verification_handler.py"
)

PRICING = '''"""Prices of the shop's items."""

VAT = 0.2


def net(price):
    return price


def gross(price):
    return price + price * VAT


def discount(price, percent):
    return price - price * percent / 100


def total(items):
    result = 0
    for item in items:
        result = result + gross(item)
    return result
'''

# Its raise is one line longer than the diff is wide: the page wraps it.
PRICING_CHANGED = '''"""Prices of the shop's items, in cents so that sums are exact."""

VAT_PERCENT = 20


def net(price: int) -> int:
    return price


def gross(price: int) -> int:
    return price + price * VAT_PERCENT // 100


def discount(price: int, percent: int) -> int:
    if not 0 <= percent <= 100:
        raise ValueError(f"a discount of {percent}% is not between 0% and 100%, so it cannot be applied to a price of {price} cents")
    return price - price * percent // 100


def total(items: list[int]) -> int:
    return sum(gross(item) for item in items)
'''  # noqa: E501


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **IDENTITY},
    )
    return done.stdout.strip()


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def repository(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    write(
        path,
        {
            "README.md": "# Shop\n\nA small shop.\n",
            "shop/__init__.py": "",
            "shop/pricing.py": PRICING,
            "shop/legacy_discounts.py": "def old_discount(price):\n    return price * 0.9\n",
            "docs/notes.txt": "Release notes\n\n- first release\n",
            "config/shop.ini": "[shop]\nname = Shop\ncurrency = EUR\n",
        },
    )
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "The shop")
    return path


def attempt(
    project: Project, agent: Agent, *, key: str, name: str, commit: str, change: dict[str, str]
) -> Task:
    """Task `key` in review: a succeeded run whose worktree (made by the workspace
    service, as a run's is) holds `change` in one commit, and whose check passed. In
    `change` a file mapped to "" is deleted and one mapped to "->new/path" renamed.

    The run and its check are written as rows, as tests/agents/reviewing.py does: what
    the coder did is not what these tests are about."""
    task = planning_services.task_create(project=project, key=key, name=name)
    now = timezone.now()
    run = AgentRun.objects.create(
        project=project,
        agent=agent,
        task=task,
        kind=AgentRun.Kind.TASK,
        idempotency_key=f"e2e-{key}",
        status=AgentRun.Status.SUCCEEDED,
        started_at=now,
        finished_at=now,
    )
    workspace = workspace_create(run=run)
    folder = Path(workspace.path)
    for old, new in change.items():
        if new == "":
            git(folder, "rm", "-q", old)
        elif new.startswith("->"):
            git(folder, "mv", old, new[2:])
        else:
            write(folder, {old: new})
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", commit)
    AgentRun.objects.filter(pk=run.pk).update(
        worktree_path=workspace.path, branch_name=workspace.branch
    )
    started = ToolCall.objects.create(
        project=project,
        run=run,
        tool_name="verify",
        call_id=f"verify-{key}",
        input={"command": "python3 -m unittest", "source": "project"},
    )
    ToolCall.objects.create(
        project=project,
        run=run,
        tool_name="verify",
        call_id=f"verify-{key}",
        started=started,
        status="succeeded",
        output={"exit_code": 0, "output_tail": "Ran 4 tests in 0.002s\n\nOK\n"},
    )
    task.refresh_from_db()
    return planning_services.task_update(task=task, data={"status": Task.Status.REVIEW})


def main(folder: Path) -> None:
    owner = get_user_model().objects.get(username="admin")
    # Not a member of anything: the members test adds them to a project.
    get_user_model().objects.create_user("riley")
    repo = repository(folder / "review-repo")
    project = planning_services.project_create(
        owner=owner,
        name="Shop (review e2e)",
        slug=SLUG,
        root_path=str(repo),
        base_branch="main",
    )
    coder = agent_create(project=project, name="coder", type=Agent.Type.CODER)
    catalogue = "sku,name,price\n" + "".join(
        f"SKU-{n:05d},Item number {n},{100 + n}\n" for n in range(1, 1701)
    )
    attempt(
        project,
        coder,
        key="REV-1",
        name="Prices in whole cents",
        commit="Prices in whole cents",
        change={
            "shop/pricing.py": PRICING_CHANGED,
            "shop/legacy_discounts.py": "",
            "docs/notes.txt": "->docs/release-notes.txt",
            "config/shop.ini": "[shop]\nname  =  Shop\ncurrency = EUR\n",
            LONG_PATH: "def verify(payload: bytes, signature: str) -> bool:\n    return False\n",
            "data/catalogue.csv": catalogue,
        },
    )
    attempt(
        project,
        coder,
        key="REV-2",
        name="A tax module",
        commit="A tax module",
        change={
            "shop/tax.py": "RATES = {'standard': 20, 'reduced': 5}\n",
            "README.md": "# Shop\n\nA small shop, with taxes.\n",
        },
    )
    print(repo)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} FOLDER")
    main(Path(sys.argv[1]))
