"""The LLM, agents' runs and their workers, coding runs' workspaces and commands, and
GitHub: the settings of the planning and agent features."""

import socket
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.settings_parts.environment import VAR_DIR, env

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
