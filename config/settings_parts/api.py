"""The REST API's settings, with the limits on what it and the plan imports read."""

from pathlib import Path

from config.settings_parts.environment import VAR_DIR, env

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
