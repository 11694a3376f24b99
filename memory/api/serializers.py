from typing import Any

from rest_framework import serializers

from memory.models import MemoryFact
from planning.api.scoping import ProjectScopedRelatedFieldsMixin


class MemoryFactSerializer(
    ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[MemoryFact]
):
    """A fact with its body flattened: `learned`, `confidence` and `source`."""

    # The provenance links (agent, run, tool_call) are the fields ModelSerializer builds
    # from the model's foreign keys, so memory names no model of the agents app here.
    scoped_related_fields = {"agent": "project", "run": "project", "tool_call": "project"}
    learned = serializers.CharField(source="body.learned", help_text="What was learned.")
    confidence = serializers.FloatField(min_value=0, max_value=1)
    # DRF's serializer metaclass takes declared fields off the class, so this field does
    # not replace Field.source, whatever the type checker sees.
    source = serializers.CharField(  # type: ignore[assignment]
        source="body.source", help_text="Where it was learned: a tool, a file, a person."
    )

    class Meta:
        model = MemoryFact
        fields = [
            "id",
            "subject",
            "learned",
            "confidence",
            "source",
            "is_stale",
            "agent",
            "run",
            "tool_call",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    @staticmethod
    def flatten(validated_data: dict[str, Any]) -> dict[str, Any]:
        """The validated data with the body's keys lifted to the top, as services take them."""
        data = dict(validated_data)
        return {**data.pop("body", {}), **data}
