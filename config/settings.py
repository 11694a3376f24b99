"""Crewboard settings. Everything configurable is read from the environment (or `.env`)."""

import os
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Annotations subscript Django's generic classes (ModelAdmin[Task], ModelForm[Task]) in
# class bases too, which Python evaluates when it defines the class.
django_stubs_ext.monkeypatch()

# Security, the REST API, the LLM and agents, and logging are in config/settings_parts,
# imported below where their sections were.
from config.settings_parts.environment import BASE_DIR, VAR_DIR, env  # noqa: E402

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

# Security, and the REST API -------------------------------------------------
from config.settings_parts.api import *  # noqa: E402, F403
from config.settings_parts.security import *  # noqa: E402, F403

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

# LLM, agents, coding runs and GitHub ----------------------------------------
from config.settings_parts.agents import *  # noqa: E402, F403
from config.settings_parts.agents import EXECUTOR_TIMEOUT_S  # noqa: E402

if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged task to another worker after this long; a coding
    # CLI's task is acknowledged only when it ends (acks_late), so it must outlast it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(EXECUTOR_TIMEOUT_S) + 600}

# Logging --------------------------------------------------------------------
from config.settings_parts.logs import *  # noqa: E402, F403
