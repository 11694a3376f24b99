"""Logging: to the console, at LOG_LEVEL."""

from config.settings_parts.environment import env

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
