import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def password_file(tmp_path):
    return tmp_path / "var" / "admin-password.txt"


def _bootstrap(capsys, password_file, **options) -> str:
    call_command(
        "bootstrap",
        password_file=password_file,
        skip_collectstatic=options.pop("skip_collectstatic", True),
        verbosity=0,
        **options,
    )
    return capsys.readouterr().out


def test_bootstrap_creates_a_superuser_and_saves_its_password_privately(capsys, password_file):
    out = _bootstrap(capsys, password_file)

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.is_active
    password = password_file.read_text().strip()
    assert admin.check_password(password)
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert password in out
    assert str(password_file) in out


def test_second_bootstrap_keeps_the_admin_and_its_password(capsys, password_file):
    _bootstrap(capsys, password_file)
    admin = get_user_model().objects.get(username="admin")
    password = password_file.read_text().strip()

    out = _bootstrap(capsys, password_file)

    assert get_user_model().objects.filter(username="admin").count() == 1
    admin.refresh_from_db()
    assert admin.check_password(password)
    assert password_file.read_text().strip() == password
    assert password not in out
    assert "exists" in out
    assert str(password_file) in out


def test_bootstrap_leaves_an_existing_admin_alone(capsys, password_file):
    get_user_model().objects.create_user(username="admin", password="chosen by a human 42")

    out = _bootstrap(capsys, password_file)

    assert get_user_model().objects.get(username="admin").check_password("chosen by a human 42")
    assert not password_file.exists()
    assert "changepassword admin" in out


def test_bootstrap_collects_static_files(capsys, password_file, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"

    _bootstrap(capsys, password_file, skip_collectstatic=False)

    assert (tmp_path / "static" / "admin" / "css" / "base.css").is_file()


def test_first_bootstrap_creates_the_demo_project_once(capsys, password_file):
    from planning.models import Project

    out = _bootstrap(capsys, password_file)
    demo = Project.objects.get(slug="crewboard-demo")
    assert "/projects/crewboard-demo/" in out
    assert demo.owner.username == "admin"
    assert demo.tasks.count() == 10 and demo.features.count() == 4
    assert demo.dev_plans.get().versions.count() == 1
    coding = Project.objects.get(slug="calculator-demo")  # and the coding demo
    assert "/projects/calculator-demo/" in out and coding.root_path
    _bootstrap(capsys, password_file)
    assert Project.objects.count() == 2


def test_no_demo_when_asked_or_when_projects_exist(capsys, password_file):
    from planning.models import Project
    from tests.factories import ProjectFactory

    _bootstrap(capsys, password_file, no_demo=True)
    assert not Project.objects.exists()
    ProjectFactory(slug="mine")
    _bootstrap(capsys, password_file)
    assert list(Project.objects.values_list("slug", flat=True)) == ["mine"]
