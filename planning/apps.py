from django.apps import AppConfig


class PlanningConfig(AppConfig):
    name = "planning"

    def ready(self) -> None:
        # Registers the offline provider's stand-ins for the planning model, and the
        # Celery tasks that services enqueue by name.
        from planning import prompts, tasks  # noqa: F401
