import pytest
from django.db import transaction
from rest_framework.test import APIClient

from config.celery import app as celery_app
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.fakes.openai_server import FakeOpenAIServer

pytest_plugins = ["tests.celery_worker"]


@pytest.fixture(autouse=True, scope="session")
def audit_tables_truncated_by_the_flush():
    """Let a transactional test's teardown empty the audit tables on PostgreSQL.

    Django flushes PostgreSQL with one TRUNCATE of every table, which the audit tables'
    statement triggers reject. Test-only: the flush runs with triggers off, through the
    superuser escape the README documents (`session_replication_role = replica`).
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    flush = DatabaseOperations.execute_sql_flush

    def flush_with_triggers_off(self: DatabaseOperations, sql_list: list[str]) -> None:
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cur:
            cur.execute("SET LOCAL session_replication_role = replica")
            flush(self, sql_list)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "execute_sql_flush", flush_with_triggers_off)
        yield


@pytest.fixture(autouse=True)
def api_credential_throttles_off(settings):
    """Counts of bad credentials live in the cache, which outlives a test (and, in Redis,
    the run): tests that send bad tokens must not lock out later ones. The throttles'
    own tests switch them on (tests/core/test_api_throttling.py)."""
    settings.API_AUTH_FAILURE_LIMIT = 10**9
    settings.API_AGENT_KEY_RATE = None


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Factories make a user per project; the production hasher would make the suite crawl.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def private_var_folders(settings, tmp_path_factory):
    """Worktrees, clones and the demo repository go to the test's own folders, never to
    the checkout's var/."""
    base = tmp_path_factory.mktemp("var")
    settings.WORKSPACES_DIR = base / "worktrees"
    settings.REPOS_DIR = base / "repos"
    settings.WORKSPACES_DIR.mkdir()
    settings.REPOS_DIR.mkdir()
    settings.DEMO_REPOSITORY_DIR = base / "demo-repo"
    settings.IMPORT_STASH_DIR = base / "import-stash"


@pytest.fixture(autouse=True)
def no_github(settings):
    """Work merges locally unless a test asks for GitHub: a developer's own GITHUB_TOKEN in
    .env must not send the suite's branches anywhere."""
    settings.GITHUB_TOKEN = ""
    settings.GITHUB_API_URL = "https://api.github.com"
    settings.GITHUB_WEB_HOSTS = ["github.com"]


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user, name="Crewboard", slug="crewboard")


@pytest.fixture
def other_project(db):
    """A project `user` is not a member of."""
    return ProjectFactory(name="Someone else's", slug="elsewhere")


@pytest.fixture
def viewer(project):
    return MembershipFactory(project=project, role="viewer", user=UserFactory(username="vic")).user


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def viewer_api(viewer) -> APIClient:
    client = APIClient()
    client.force_authenticate(viewer)
    return client


@pytest.fixture
def browser(client, user):
    """A logged-in Django test client."""
    client.force_login(user)
    return client


@pytest.fixture
def fake_llm(settings):
    """A real OpenAI-compatible server on 127.0.0.1, with settings pointing the openai
    provider at it. Script replies with `fake_llm.script(...)`."""
    with FakeOpenAIServer() as server:
        settings.LLM_PROVIDER = "openai"
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_API_KEY = "sk-test"
        settings.LLM_MAX_RETRIES = 2
        settings.LLM_TIMEOUT_S = 5
        yield server


@pytest.fixture
def coding_model(settings):
    """A model that could write code, for tests that dispatch built-in agents without
    asking it anything: the offline provider cannot code, so dispatch refuses it. (With
    `fake_llm`, that server is the model.)"""
    if settings.LLM_PROVIDER == "offline":
        settings.LLM_PROVIDER = "openai"
        settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # the discard port: never answers
        settings.LLM_API_KEY = "sk-unused"


@pytest.fixture
def eager_celery():
    """Celery tasks run in this process as they are sent (once their transaction commits,
    under django_capture_on_commit_callbacks), in the order workers would take them."""
    was = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = was
