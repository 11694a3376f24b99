from django.apps import AppConfig


class PlanningConfig(AppConfig):
    name = "planning"

    def ready(self) -> None:
        # Registers the offline provider's stand-ins for the planning model.
        from planning import prompts  # noqa: F401
