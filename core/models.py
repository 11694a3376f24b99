from collections.abc import Iterable

from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def choices_constraint(
    field: str, choices: type[models.TextChoices] | Iterable[str], *, name: str
) -> models.CheckConstraint:
    """A CHECK that keeps `field` within its enum, enforced by the database."""
    values = list(choices.values) if hasattr(choices, "values") else list(choices)
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": values}), name=name)
