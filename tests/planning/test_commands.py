import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from planning.models import DevPlanVersion, Project, Task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
DEMO = Path(__file__).resolve().parents[2] / "planning" / "demo" / ".planning"


def test_import_plan_command(project, capsys):
    call_command("import_plan", str(DEMO), project=project.slug, no_progress=True)
    out = capsys.readouterr().out
    assert "added" in out and "10 tasks" in out and "version 1" in out
    call_command("import_plan", str(DEMO), project=project.slug, no_progress=True)
    assert "no changes; no new version" in capsys.readouterr().out
    assert Task.objects.count() == 10


def test_import_plan_command_reports_errors_and_writes_nothing(project, tmp_path):
    bad = tmp_path / "tasks.json"
    bad.write_text('{"tasks": [{"id": 1, "dependencies": [2]}]}')
    with pytest.raises(CommandError, match=r"Nothing imported\. tasks.json:1: task 1 depends on 2"):
        call_command("import_plan", str(bad), project=project.slug, no_progress=True)
    with pytest.raises(CommandError, match="No project"):
        call_command("import_plan", str(bad), project="nope", no_progress=True)
    with pytest.raises(CommandError, match="no such file"):
        call_command(
            "import_plan", str(tmp_path / "missing"), project=project.slug, no_progress=True
        )
    assert not Task.objects.exists() and not DevPlanVersion.objects.exists()


def test_export_plan_command(project, tmp_path):
    call_command("import_plan", str(DEMO), project=project.slug, no_progress=True)
    out = tmp_path / "plan.json"
    call_command("export_plan", project=project.slug, format="taskmaster", output=out)
    tasks = json.loads(out.read_text())["master"]["tasks"]
    assert [t["id"] for t in tasks] == list(range(1, 11))
    call_command("export_plan", project=project.slug, format="json", plan_version=1, output=out)
    assert len(json.loads(out.read_text())["tasks"]) == 10
    with pytest.raises(CommandError, match="no version 7"):
        call_command("export_plan", project=project.slug, format="json", plan_version=7, output=out)


def test_import_plan_command_creates_the_project_when_asked(user, capsys):
    admin = UserFactory(username="root", is_superuser=True)
    call_command(
        "import_plan", str(DEMO), project="demo", create=True, name="Demo", no_progress=True
    )
    created = Project.objects.get(slug="demo")
    assert created.name == "Demo" and created.owner == admin
    assert created.tasks.count() == 10
    assert "Imported .planning into demo" in capsys.readouterr().out
    call_command("import_plan", str(DEMO), project="demo2", create=True, owner="alice")
    assert Project.objects.get(slug="demo2").owner == user


def test_import_plan_command_keeps_no_project_when_the_created_ones_import_fails(db, tmp_path):
    bad = tmp_path / "tasks.json"
    bad.write_text('{"tasks": [{"id": 1, "dependencies": [2]}]}')
    with pytest.raises(CommandError, match="No superuser to own the project"):
        call_command("import_plan", str(DEMO), project="demo", create=True, no_progress=True)
    UserFactory(username="root", is_superuser=True)
    with pytest.raises(CommandError, match="No user 'ghost'"):
        call_command("import_plan", str(DEMO), project="demo", create=True, owner="ghost")
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("import_plan", str(bad), project="demo", create=True, no_progress=True)
    with pytest.raises(CommandError, match="cannot be created"):
        call_command("import_plan", str(DEMO), project="bad slug!", create=True, no_progress=True)
    assert not Project.objects.exists()


def test_import_plan_command_stops_at_another_source_until_a_mode_is_given(project, tmp_path):
    call_command("import_plan", str(DEMO), project=project.slug, no_progress=True)
    prd = tmp_path / "PRD.md"
    prd.write_text("## Extra\n\n- One more thing\n")
    with pytest.raises(CommandError, match=r"would add 1, change 0 and .* remove 10 tasks"):
        call_command("import_plan", str(prd), project=project.slug, no_progress=True)
    assert project.tasks.count() == 10
    call_command("import_plan", str(prd), project=project.slug, no_progress=True, mode="merge")
    assert project.tasks.count() == 11
