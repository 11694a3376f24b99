"""Projects, their members and their requirements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from core.models import TimeStampedModel, choices_constraint
from core.shapes import ShapedJsonModel
from planning import shapes

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from planning.models.features import Feature


class Priority(models.TextChoices):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ProjectMode(models.TextChoices):
    GENESIS = "genesis"
    EVOLUTION = "evolution"


class Executor(models.TextChoices):
    """What carries out a coding attempt: the built-in step loop or a coding CLI."""

    BUILTIN = "builtin", "Built-in"
    CLAUDE_CODE = "claude-code", "Claude Code"
    CODEX = "codex"
    GEMINI = "gemini", "Gemini CLI"
    AIDER = "aider"
    OPENCODE = "opencode", "OpenCode"
    COMMAND = "command", "Command of your own"


class ReviewMode(models.TextChoices):
    """Who reviews a verified attempt before it is merged."""

    AGENT = "agent", "Reviewer agent"
    HUMAN = "human", "A person"
    AGENT_THEN_HUMAN = "agent_then_human", "Reviewer agent, then a person"


class MergeStrategy(models.TextChoices):
    SQUASH = "squash", "Squash into one commit"
    REBASE = "rebase", "Rebase the commits"
    MERGE = "merge", "Merge commit"


class ProjectStatus(models.TextChoices):
    PLANNING = "planning"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    ARCHIVED = "archived"


class Project(ShapedJsonModel, TimeStampedModel):
    json_shapes = {"enabled_tools": shapes.PROJECT_ENABLED_TOOLS}

    Mode = ProjectMode

    Review = ReviewMode

    MergeStrategy = MergeStrategy

    Status = ProjectStatus

    # Finished: the project is done with (completed_at is set), and no dispatch serves it.
    FINISHED_STATUSES = (ProjectStatus.COMPLETED, ProjectStatus.ARCHIVED)

    name = models.CharField(max_length=200)
    # Unique through Meta.constraints: an index for equality lookups only, where unique=True
    # would add a second, LIKE-pattern one on PostgreSQL.
    slug = models.SlugField(max_length=100, db_index=False)
    description = models.TextField(blank=True)
    mode = models.CharField(
        max_length=20,
        choices=Mode,
        default=Mode.GENESIS,
        help_text=(
            "Genesis: a new codebase, built from the plan. Evolution: changes to an existing "
            "codebase, so agents read and follow the code that is there."
        ),
    )
    status = models.CharField(max_length=20, choices=Status, default=Status.PLANNING)
    root_path = models.CharField(max_length=500, blank=True)
    repository_url = models.CharField(max_length=500, blank=True)
    base_branch = models.CharField(max_length=200, default="main")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects"
    )
    members: models.ManyToManyField[User, ProjectMembership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProjectMembership", related_name="projects"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    max_concurrent_runs = models.PositiveSmallIntegerField(
        default=2, help_text="How many agent runs the orchestrator keeps going at once."
    )
    enabled_tools = models.JSONField(
        default=list,
        blank=True,
        help_text="Names of agent tools enabled beyond the always-on, low-risk ones.",
    )
    setup_command = models.TextField(
        blank=True, help_text="Shell command run in each new worktree before the agent starts."
    )
    verify_command = models.TextField(
        blank=True, help_text="Shell command that checks every task (after the task's own verify)."
    )
    max_qa_iterations = models.PositiveSmallIntegerField(
        default=3, help_text="Failed verifications a task may have before it is blocked."
    )
    allow_network = models.BooleanField(
        default=False, help_text="Whether commands that agents run may use the network."
    )
    default_executor = models.CharField(
        max_length=20,
        choices=Executor,
        default=Executor.BUILTIN,
        help_text="What new agents use to write code.",
    )
    review = models.CharField(
        max_length=20,
        choices=ReviewMode,
        default=ReviewMode.HUMAN,
        help_text="Who reviews verified work before it is merged.",
    )
    merge_strategy = models.CharField(
        max_length=10,
        choices=MergeStrategy,
        default=MergeStrategy.SQUASH,
        help_text="How approved work lands on the base branch.",
    )
    keep_branches = models.BooleanField(
        default=False, help_text="Keep a task's branch after it is merged."
    )

    class Meta:
        # Case-insensitive, so "alpha" sorts beside "Alpha" rather than after "Zeta".
        ordering = [Lower("name"), "id"]
        constraints = [
            models.UniqueConstraint(fields=["slug"], name="project_slug_unique"),
            choices_constraint("mode", ProjectMode, name="project_mode_valid"),
            choices_constraint("status", ProjectStatus, name="project_status_valid"),
            choices_constraint("default_executor", Executor, name="project_executor_valid"),
            choices_constraint("review", ReviewMode, name="project_review_valid"),
            choices_constraint(
                "merge_strategy", MergeStrategy, name="project_merge_strategy_valid"
            ),
            models.CheckConstraint(
                condition=Q(max_qa_iterations__gte=1), name="project_max_qa_iterations_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(status__in=["completed", "archived"]),
                name="project_completed_at_only_when_finished",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProjectMembershipRole(models.TextChoices):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


class ProjectMembership(models.Model):
    Role = ProjectMembershipRole

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="project_memberships",
        db_index=False,
    )
    role = models.CharField(max_length=20, choices=Role, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
            choices_constraint("role", ProjectMembershipRole, name="membership_role_valid"),
        ]
        indexes = [models.Index(fields=["user", "project"], name="membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.EDITOR)


class RequirementPriority(models.TextChoices):
    MUST = "must"
    SHOULD = "should"
    COULD = "could"
    WONT = "wont"


class Requirement(TimeStampedModel):
    Priority = RequirementPriority

    # Its index is requirement_order_idx's leading column (the (project, code) unique
    # index is partial: codes may be blank).
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="requirements", db_index=False
    )
    code = models.CharField(max_length=50, blank=True)
    category = models.CharField(max_length=100, blank=True)
    description = models.TextField()
    priority = models.CharField(max_length=10, choices=Priority, default=Priority.SHOULD)
    source = models.CharField(max_length=300, blank=True)
    validated = models.BooleanField(default=False)
    # Its place on the Requirements tab, as editors order them (see feature.position).
    position = models.PositiveIntegerField(default=0)
    features: models.ManyToManyField[Feature, Any] = models.ManyToManyField(
        "Feature", related_name="requirements", blank=True
    )

    class Meta:
        ordering = ["position", "code", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "code"],
                condition=~Q(code=""),
                name="requirement_code_unique_per_project",
            ),
            choices_constraint("priority", RequirementPriority, name="requirement_priority_valid"),
        ]
        indexes = [
            models.Index(fields=["project", "position", "code"], name="requirement_order_idx")
        ]

    def __str__(self) -> str:
        return self.code or self.description[:60]
