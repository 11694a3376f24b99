"""The planning admin, one module per group of models. Importing them registers their
pages: Django's admin autodiscovery imports this package."""

from planning.admin import plan_rows, plans, projects

__all__ = ["plan_rows", "plans", "projects"]
