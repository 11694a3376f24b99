"""Crewboard's settings by topic, gathered by config.settings (DJANGO_SETTINGS_MODULE).
Each part reads the environment through config.settings_parts.environment."""
