from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"

    def ready(self) -> None:
        # Imported once the models are: tool modules register their tools, and the task
        # module registers the Celery tasks that services enqueue by name.
        from agents import tasks  # noqa: F401
        from agents.tools import load_tool_modules, project_tool_options
        from planning.tool_options import tool_options_provide

        load_tool_modules()
        # planning cannot import the registry; it asks through this (project settings).
        tool_options_provide(project_tool_options)
