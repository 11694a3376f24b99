"""What happens to verified work: reviews with line comments, and merges into the base
branch."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents import shapes
from core.models import choices_constraint
from core.shapes import ShapedJsonModel


class ReviewVerdict(models.TextChoices):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes", "Request changes"
    ABANDON = "abandon"


class Review(models.Model):
    """A verdict on one coding attempt (its branch at `head_commit`), by a person or a
    reviewer agent. Immutable once written: a later look at the work is a new review.

    Only agents/services/reviews.py writes them.
    """

    Verdict = ReviewVerdict

    project = models.ForeignKey(
        "planning.Project", on_delete=models.CASCADE, related_name="reviews", db_index=False
    )
    task = models.ForeignKey("planning.Task", on_delete=models.CASCADE, related_name="reviews")
    # The attempt reviewed: the coding run whose branch holds the work.
    run = models.ForeignKey(
        "agents.AgentRun", on_delete=models.CASCADE, related_name="reviews", db_index=False
    )
    # Rows are immutable, so the people and agents they name are never nulled: a person
    # who reviewed is kept (PROTECT); an agent's reviews go with the agent and its runs.
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reviews",
    )
    reviewer_agent = models.ForeignKey(
        "agents.Agent",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reviews",
    )
    verdict = models.CharField(max_length=20, choices=Verdict)
    body = models.TextField(blank=True)
    base_commit = models.CharField(max_length=64, blank=True)
    head_commit = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            choices_constraint("verdict", ReviewVerdict, name="review_verdict_valid"),
            models.CheckConstraint(
                condition=Q(reviewer__isnull=True) ^ Q(reviewer_agent__isnull=True),
                name="review_by_one_person_or_agent",
            ),
        ]
        indexes = [models.Index(fields=["run", "-created_at"], name="review_run_idx")]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} on {self.task_id} (run {self.run_id})"

    @property
    def reviewer_label(self) -> str:
        if self.reviewer_agent_id is not None:
            return self.reviewer_agent.name if self.reviewer_agent else "reviewer agent"
        return self.reviewer.get_username() if self.reviewer else "someone"


class CommentSide(models.TextChoices):
    NEW = "new"
    OLD = "old"


class ReviewComment(models.Model):
    """A comment anchored to a line of a file in the reviewed diff. `line_text` keeps
    the line as it was, so a comment whose line has since changed shows as outdated."""

    Side = CommentSide

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="comments")
    path = models.CharField(max_length=500)
    line = models.PositiveIntegerField()
    side = models.CharField(max_length=3, choices=Side, default=Side.NEW)
    line_text = models.TextField(blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["path", "line", "id"]
        constraints = [
            choices_constraint("side", CommentSide, name="reviewcomment_side_valid"),
            models.CheckConstraint(condition=Q(line__gte=1), name="reviewcomment_line_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


class MergeStatus(models.TextChoices):
    QUEUED = "queued"
    # The user's checkout of the base branch has local changes: nothing moved yet.
    WAITING = "waiting"
    MERGED = "merged"
    CONFLICTED = "conflicted"
    FAILED = "failed"
    # Pushed and proposed on the remote instead of merged here.
    PULL_REQUEST = "pull_request", "Pull request opened"


class Merge(ShapedJsonModel):
    """Approved work on its way to the base branch. Only agents/services/merges.py
    changes its status."""

    json_shapes = {"conflicts": shapes.MERGE_CONFLICTS}

    Status = MergeStatus

    OPEN_STATUSES = (MergeStatus.QUEUED, MergeStatus.WAITING)

    project = models.ForeignKey(
        "planning.Project", on_delete=models.CASCADE, related_name="merges", db_index=False
    )
    task = models.ForeignKey("planning.Task", on_delete=models.CASCADE, related_name="merges")
    run = models.ForeignKey(
        "agents.AgentRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merges",
    )
    strategy = models.CharField(max_length=10)
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    branch = models.CharField(max_length=200)
    base_branch = models.CharField(max_length=200)
    base_commit = models.CharField(max_length=64, blank=True)
    # The branch's commit the approval was of: a branch that moved since is not merged.
    head_commit = models.CharField(max_length=64, blank=True)
    merge_commit = models.CharField(max_length=64, blank=True)
    conflicts = models.JSONField(default=list, blank=True)
    # Why it waits or failed, in words for the person reading the task.
    message = models.TextField(blank=True)
    pull_request_url = models.CharField(max_length=500, blank=True)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merges",
    )
    merger_agent = models.ForeignKey(
        "agents.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merges",
    )
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            choices_constraint("status", MergeStatus, name="merge_status_valid"),
            choices_constraint(
                "strategy", ["squash", "rebase", "merge"], name="merge_strategy_valid"
            ),
            # One merge on its way per task at a time.
            models.UniqueConstraint(
                fields=["task"],
                condition=Q(status__in=["queued", "waiting"]),
                name="merge_one_open_per_task",
            ),
        ]
        indexes = [models.Index(fields=["project", "status"], name="merge_project_status_idx")]

    def __str__(self) -> str:
        return f"{self.branch} into {self.base_branch} ({self.status})"
