"""Crewboard settings. Everything configurable is read from the environment (or `.env`)."""

import os
import socket
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

# Annotations subscript Django's generic classes (ModelAdmin[Task], ModelForm[Task]) in
# class bases too, which Python evaluates when it defines the class.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment or in .env "
            "(`make run` writes one), or set DEBUG=true for local development."
        )
    SECRET_KEY = "django-insecure-development-only-key"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "core",
    "planning",
    "agents",
    "memory",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # Plan text is Markdown on every page: `|markdown` and `|markdown_inline`.
            "builtins": ["core.templatetags.markdown"],
        },
    },
]

# Database -------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'crewboard.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while the other writes;
    # IMMEDIATE makes write transactions take the lock up front instead of failing mid-way.
    _db["OPTIONS"] = {
        "timeout": env.int("SQLITE_BUSY_TIMEOUT_S", default=20),
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;"
        ),
    }
    # A file, not :memory:, so a real worker process can share the test database;
    # per process, so two test runs in one checkout don't trample each other.
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test_crewboard_{os.getpid()}.sqlite3")}
    VAR_DIR.mkdir(exist_ok=True)
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, whose pool replaces every dead idle connection as soon as it
    # meets one (core/pool.py): after a server restart a process recovers at its next
    # request instead of waiting out the pool's backoff.
    _db["ENGINE"] = "core.postgresql"
    # With a pool, this makes the pool check each connection it hands out: a worker keeps
    # its connections across tasks, and the server may have restarted in between.
    _db["CONN_HEALTH_CHECKS"] = True
    _db["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": env.int("DATABASE_POOL_SIZE", default=10),
            "timeout": 10,
        },
        # Statements run through core.db.prepared_cursor are prepared on first use.
        # Django's own cursors bind parameters client-side and never prepare.
        "prepare_threshold": 0,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache ----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Several servers on one Redis keep apart by prefix (a throwaway server's
            # throttle counts must not outlive it).
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="crewboard"),
        }
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        # Sessions must read the same in every process (gunicorn's workers, each with a
        # local memory of its own): without Redis they are cached in files.
        "sessions": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "session-cache"),
        },
    }
SESSION_CACHE_ALIAS = "default" if REDIS_URL else "sessions"
# A cache every process reads alike (the web's and the workers'): for what a worker
# reports while it works, such as an import job's rows applied.
SHARED_CACHE_ALIAS = SESSION_CACHE_ALIAS

# Auth -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins (the login page and the admin's) are counted per username and per client
# address, in the database so every process sees them (django-axes): LOGIN_FAILURE_LIMIT
# failures lock either out for LOGIN_LOCKOUT_MINUTES, and a success clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "planning:project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files ---------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}

# Security -------------------------------------------------------------------
# HTTPS=true: served over HTTPS, behind a proxy that terminates TLS and sets
# X-Forwarded-Proto (and strips it from clients). Plain-HTTP requests are redirected,
# except the health checks a container probe makes from inside; cookies go over HTTPS
# only; browsers are told to use HTTPS alone for SECURE_HSTS_SECONDS.
HTTPS = env.bool("HTTPS", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_HTTPONLY = True
# Sessions are read from the cache (Redis, else files: SESSION_CACHE_ALIAS) and written
# through to the database: a live page's poll then reads the database only for its user
# and the plan's change stamp. A cache without the session (a restarted Redis) falls back
# to the database row.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# REST API -------------------------------------------------------------------
# The largest JSON body the API reads (413 beyond), and the largest plan file an import
# takes (a zip counts unpacked), through the API, the dashboard or `import_plan`.
API_JSON_MAX_BYTES = env.int("API_JSON_MAX_BYTES", default=20 * 1024 * 1024)
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=100 * 1024 * 1024)
# Plan files larger than this are imported by a Celery worker (the API answers 202 with
# the job to poll), so a web worker is never held by one; `?async=1` asks for it anyway.
IMPORT_ASYNC_BYTES = env.int("IMPORT_ASYNC_BYTES", default=256 * 1024)
# The longest a worker may take over one import job; a job running this long (plus a
# minute) is taken for lost and delivered again, at most IMPORT_JOB_MAX_DELIVERIES times.
IMPORT_JOB_TIME_LIMIT_S = env.int("IMPORT_JOB_TIME_LIMIT_S", default=900)
IMPORT_JOB_LEASE_S = IMPORT_JOB_TIME_LIMIT_S + 90
IMPORT_JOB_MAX_DELIVERIES = env.int("IMPORT_JOB_MAX_DELIVERIES", default=3)
# Where the dashboard keeps an uploaded plan between its preview and the user's choice.
IMPORT_STASH_DIR = Path(env.str("IMPORT_STASH_DIR", default=str(VAR_DIR / "import-stash")))
REST_FRAMEWORK = {
    # Token first: the first class names the scheme of a 401 (WWW-Authenticate), and
    # without one DRF answers a bad token with 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.throttling.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: its parser refuses NUL characters, lone surrogates and deep nesting
    # anywhere in the body, which form data would carry into JSON fields. The plan upload
    # sets its own parsers.
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Invalid tokens or agent keys: this many from one address within the window, and it is
# refused (429) until the window ends. Issuing or revoking agent keys: per person.
API_AUTH_FAILURE_LIMIT = env.int("API_AUTH_FAILURE_LIMIT", default=20)
API_AUTH_FAILURE_WINDOW_S = env.int("API_AUTH_FAILURE_WINDOW_S", default=600)
API_AGENT_KEY_RATE = env.str("API_AGENT_KEY_RATE", default="30/hour")
SPECTACULAR_SETTINGS = {
    "TITLE": "Crewboard API",
    "DESCRIPTION": "Plans, agents and their audit trail. Every endpoint is scoped to the "
    "projects the caller belongs to.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Tags come from the first path segment after this prefix: one tag per resource
    # ("tasks", "runs", ...) instead of every operation under "v1".
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+(?:/projects/\{project_slug\})?",
    "ENUM_NAME_OVERRIDES": {
        "PriorityEnum": "planning.models.Priority",
        "RequirementPriorityEnum": "planning.models.RequirementPriority",
        "ProjectStatusEnum": "planning.models.ProjectStatus",
        "WorkStatusEnum": "planning.models.WorkStatus",
        "TaskStatusEnum": "planning.models.TaskStatus",
        "TaskTypeEnum": "planning.models.TaskType",
        "ConversationStatusEnum": "planning.models.ConversationSessionStatus",
        "ConversationKindEnum": "planning.models.ConversationSessionKind",
        "ExecutorEnum": "planning.models.Executor",
        "MessageRoleEnum": "planning.models.ConversationMessageRole",
        "MembershipRoleEnum": "planning.models.ProjectMembershipRole",
        "AgentRunKindEnum": "agents.models.runs.AgentRunKind",
        "AgentStatusEnum": "agents.models.agents.AgentStatus",
        "AgentRunStatusEnum": "agents.models.runs.AgentRunStatus",
        "ToolCallStatusEnum": "agents.models.audit.ToolCallStatus",
        "PlanningCycleStatusEnum": "agents.models.audit.PlanningCycleStatus",
        "AgentTypeEnum": "agents.models.agents.AgentType",
        "MetricTypeEnum": "agents.models.audit.MetricType",
    },
}

# Celery ---------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = Path(env.str("CELERY_BROKER_DIR", default=str(BROKER_DIR)))
    for _sub in ("queue", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    # kombu's own filesystem transport lets a worker read a message before it is written.
    CELERY_BROKER_TRANSPORT = "core.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.25,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection, and on prefork the whole psycopg
# pool, at every task boundary unless this is set (celery/celery#10554): a new PostgreSQL
# connection per task. With it set, the fixup rebuilds them only every this many tasks;
# config/celery.py hands connections back at task boundaries the way Django does per
# request.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
WORKSPACE_SWEEP_S = env.float("WORKSPACE_SWEEP_S", default=600.0)
CELERY_BEAT_SCHEDULE = {
    # Runs whose worker died are re-delivered; external agents past their lease are fenced.
    "recover-stale-runs": {
        "task": "agents.tasks.recover_stale_runs",
        "schedule": env.float("STALE_RUN_SWEEP_S", default=10.0),
    },
    # Worktrees of finished tasks, and folders left by a crash, are removed.
    # The worker that takes it sweeps its host and sends a sweep to every other host's
    # queue (agents.services.workspaces.workspace_host_queues).
    "sweep-workspaces": {
        "task": "agents.tasks.sweep_workspaces",
        "schedule": WORKSPACE_SWEEP_S,
    },
    # Import jobs whose message never reached a worker, or whose worker died.
    "recover-stale-imports": {
        "task": "planning.tasks.recover_stale_imports",
        "schedule": env.float("STALE_RUN_SWEEP_S", default=10.0),
    },
    # Merges that wait for the user's checkout of the base branch to be clean.
    "retry-waiting-merges": {
        "task": "agents.tasks.retry_waiting_merges",
        "schedule": env.float("MERGE_RETRY_S", default=60.0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# LLM (used by the planning and agent features) ------------------------------
# The MCP tools `/mcp/` offers unless its URL asks (`?tools=`): core, standard or all.
MCP_TOOLS = env.str("CREWBOARD_MCP_TOOLS", default="standard")

LLM_PROVIDER = env.str("LLM_PROVIDER", default="offline")
LLM_BASE_URL = env.str("LLM_BASE_URL", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
# The model an agent uses: its own `model`, else its role's in LLM_MODELS (JSON, e.g.
# {"coder": "gpt-4.1", "reviewer": "o4-mini"}), else LLM_MODEL. A call that fails is
# tried once more with LLM_FALLBACK_MODEL, when set.
LLM_MODEL = env.str("LLM_MODEL", default="gpt-4o-mini")
LLM_MODELS = env.json("LLM_MODELS", default={})
if not isinstance(LLM_MODELS, dict) or not all(
    isinstance(k, str) and isinstance(v, str) and v for k, v in LLM_MODELS.items()
):
    raise ImproperlyConfigured(
        'LLM_MODELS must be a JSON object mapping a role to a model, e.g. {"coder": "gpt-4.1"}.'
    )
LLM_FALLBACK_MODEL = env.str("LLM_FALLBACK_MODEL", default="")
LLM_PLANNING_MODEL = env.str("LLM_PLANNING_MODEL", default=LLM_MODEL)
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.4)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=2200)
# Per attempt; the SDK retries 429, 5xx, timeouts and connection errors with backoff.
LLM_TIMEOUT_S = env.float("LLM_TIMEOUT_S", default=60.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=3)
# USD per million tokens, by model name (a dated snapshot such as "gpt-4o-mini-2024-07-18"
# uses its base name's entry). "cached_input" defaults to "input". Calls to a model missing
# here record a cost of 0 marked unpriced. Set as JSON, e.g.
# LLM_PRICES={"my-model": {"input": 0.5, "output": 1.5}}; it replaces these defaults.
LLM_PRICES = env.json(
    "LLM_PRICES",
    default={
        "gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.60},
        "gpt-4o": {"input": 2.50, "cached_input": 1.25, "output": 10.00},
        "gpt-4.1-mini": {"input": 0.40, "cached_input": 0.10, "output": 1.60},
        "gpt-4.1": {"input": 2.00, "cached_input": 0.50, "output": 8.00},
    },
)
if not isinstance(LLM_PRICES, dict) or not all(
    isinstance(price, dict)
    and {"input", "output"} <= price.keys()
    and all(isinstance(v, int | float) for v in price.values())
    for price in LLM_PRICES.values()
):
    raise ImproperlyConfigured(
        "LLM_PRICES must be a JSON object mapping each model to "
        '{"input": USD, "output": USD, "cached_input": USD} per million tokens.'
    )

# Extra modules that register agent tools (see agents/tools/__init__.py).
AGENT_TOOL_MODULES = env.list("AGENT_TOOL_MODULES", default=[])
AGENT_MAX_TURNS = env.int("AGENT_MAX_TURNS", default=30)
AGENT_STEP_MAX_RETRIES = env.int("AGENT_STEP_MAX_RETRIES", default=3)
# A built-in run's lease while its work waits in a queue for a worker.
AGENT_LEASE_SECONDS = env.int("AGENT_LEASE_SECONDS", default=600)
# While a worker carries a run's work out, it renews a shorter lease every
# WORKER_HEARTBEAT_S: a worker that dies loses the run within AGENT_WORKER_LEASE_S, and
# the next sweep (STALE_RUN_SWEEP_S) delivers its work again.
AGENT_WORKER_LEASE_S = env.float("AGENT_WORKER_LEASE_S", default=30.0)
WORKER_HEARTBEAT_S = env.float("WORKER_HEARTBEAT_S", default=5.0)
if not 0 < WORKER_HEARTBEAT_S * 2 <= AGENT_WORKER_LEASE_S:
    raise ImproperlyConfigured("WORKER_HEARTBEAT_S must be at most half of AGENT_WORKER_LEASE_S.")
# A plan generation's lease while it waits for the model; a worker's heartbeat renews it.
PLANNING_LEASE_SECONDS = env.int("PLANNING_LEASE_SECONDS", default=600)
# How many times a plan generation is delivered before it fails (its worker kept dying).
PLANNING_MAX_DELIVERIES = env.int("PLANNING_MAX_DELIVERIES", default=3)
# Work queued this long whose message never reached a worker (a broker outage) is sent
# again by the sweep.
QUEUED_RESEND_S = env.float("QUEUED_RESEND_S", default=60.0)
# The Celery queue agent steps and dispatches go to.
AGENT_QUEUE = env.str("AGENT_QUEUE", default="celery")
# The Celery queue plan import jobs go to.
IMPORT_QUEUE = env.str("IMPORT_QUEUE", default=AGENT_QUEUE)
# Each worker also serves the queue of its host, which gets the steps of runs whose
# worktree is on that host's disk (so several machines can serve one Crewboard).
WORKER_HOST = env.str("WORKER_HOST", default=socket.gethostname())
WORKER_HOST_QUEUE = env.str("WORKER_HOST_QUEUE", default=f"host.{WORKER_HOST}")

# Coding runs: where worktrees and cloned repositories live, and the limits on commands.
WORKSPACES_DIR = Path(env.str("WORKSPACES_DIR", default=str(VAR_DIR / "worktrees")))
REPOS_DIR = Path(env.str("REPOS_DIR", default=str(VAR_DIR / "repos")))
# Where `manage.py coding_demo` (run by `make run`) makes the demo repository.
DEMO_REPOSITORY_DIR = Path(env.str("DEMO_REPOSITORY_DIR", default=str(VAR_DIR / "demo-repo")))
AGENT_COMMAND_TIMEOUT_S = env.float("AGENT_COMMAND_TIMEOUT_S", default=600.0)
# The time limit of one agent step, which may run a few commands.
AGENT_STEP_TIME_LIMIT_S = env.float("AGENT_STEP_TIME_LIMIT_S", default=1800.0)
AGENT_COMMAND_OUTPUT_BYTES = env.int("AGENT_COMMAND_OUTPUT_BYTES", default=1_000_000)
# The most of one command's (or CLI attempt's, or check's) output a run's log keeps.
RUN_LOG_MAX_CHARS = env.int("RUN_LOG_MAX_CHARS", default=50_000_000)
WORKSPACE_SETUP_TIMEOUT_S = env.float("WORKSPACE_SETUP_TIMEOUT_S", default=900.0)
VERIFY_TIMEOUT_S = env.float("VERIFY_TIMEOUT_S", default=900.0)
EXECUTOR_TIMEOUT_S = env.float("EXECUTOR_TIMEOUT_S", default=3600.0)
# Where a coding CLI reaches Crewboard's API with its run key (CREWBOARD_URL in its
# environment and its prompt): this server as seen from the worker's host.
CREWBOARD_URL = env.str("CREWBOARD_URL", default="http://127.0.0.1:8000").rstrip("/")
# "auto" confines agents' commands with bubblewrap when it is installed; "bwrap" requires
# it; "none" runs them unconfined.
AGENT_SANDBOX = env.str("AGENT_SANDBOX", default="auto")
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged task to another worker after this long; a coding
    # CLI's task is acknowledged only when it ends (acks_late), so it must outlast it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(EXECUTOR_TIMEOUT_S) + 600}
if AGENT_SANDBOX not in ("auto", "bwrap", "none"):
    raise ImproperlyConfigured("AGENT_SANDBOX must be one of auto, bwrap, none.")

# GitHub: with a token, a task's accepted work on a project whose repository_url is on one
# of GITHUB_WEB_HOSTS (https://host/owner/name, git@host:owner/name or ssh://) is pushed
# there and opened as a pull request instead of merged locally. GitHub Enterprise: its
# host here and GITHUB_API_URL=https://<host>/api/v3.
GITHUB_TOKEN = env.str("GITHUB_TOKEN", default="")
GITHUB_API_URL = env.str("GITHUB_API_URL", default="https://api.github.com")
GITHUB_WEB_HOSTS = [host.lower() for host in env.list("GITHUB_WEB_HOSTS", default=["github.com"])]
if not GITHUB_API_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(
        "GITHUB_API_URL must be an http(s) URL, e.g. https://api.github.com."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The HTTP client (the OpenAI SDK's, and GitHub's calls) logs every request at INFO;
    # older SDKs use httpx, newer ones httpx2.
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        # The MCP SDK logs each stateless request's start and end at INFO.
        "mcp": {"level": "WARNING"},
    },
}
