from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.shapes import ShapedJsonModel
from memory import shapes


class MemoryFact(ShapedJsonModel):
    """Something an agent learned. `project=None` makes the fact global."""

    json_shapes = {"body": shapes.FACT_BODY}

    project = models.ForeignKey(
        "planning.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memory_facts",
        db_index=False,
    )
    subject = models.CharField(max_length=300)
    body = models.JSONField(help_text='{"learned": ..., "confidence": 0-1, "source": ...}')
    confidence = models.FloatField(default=0.5)
    is_stale = models.BooleanField(default=False)
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="facts"
    )
    run = models.ForeignKey(
        "agents.AgentRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="facts"
    )
    tool_call = models.ForeignKey(
        "agents.ToolCall",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="facts",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-confidence", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="memoryfact_confidence_0_to_1",
            ),
            models.CheckConstraint(
                condition=Q(body__has_keys=["learned", "confidence", "source"]),
                name="memoryfact_body_has_required_keys",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "is_stale", "-confidence"], name="memoryfact_retrieval_idx"
            ),
            models.Index(fields=["subject"], name="memoryfact_subject_idx"),
        ]

    def __str__(self) -> str:
        return self.subject
