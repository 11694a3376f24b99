from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from core.models import TimeStampedModel, choices_constraint
from core.shapes import ShapedJsonModel
from core.text import natural_sort_key, validate_no_control_characters
from planning import shapes

if TYPE_CHECKING:
    from django.contrib.auth.models import User


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

    # Indexed on its own: the (project, code) unique index is partial (codes may be blank).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="requirements")
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


class WorkStatus(models.TextChoices):
    BACKLOG = "backlog"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class Feature(TimeStampedModel):
    """A deliverable slice of the project: a GSD phase."""

    Status = WorkStatus

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="features", db_index=False
    )
    key = models.CharField(max_length=50, validators=[validate_no_control_characters])
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=10, choices=Priority, default=Priority.MEDIUM)
    status = models.CharField(max_length=20, choices=WorkStatus, default=WorkStatus.BACKLOG)
    position = models.PositiveIntegerField(default=0)
    # Where an import found it ("<format>:<source>|<scope>|<item>"), so a re-import finds
    # it again by that, not by its key or place. Empty for rows made here.
    source_identity = models.CharField(max_length=1000, blank=True, default="")

    class Meta:
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="feature_key_unique"),
            choices_constraint("priority", Priority, name="feature_priority_valid"),
            choices_constraint("status", WorkStatus, name="feature_status_valid"),
        ]
        indexes = [models.Index(fields=["project", "position", "key"], name="feature_order_idx")]

    def __str__(self) -> str:
        return f"{self.key} {self.name}"


class SubFeature(ShapedJsonModel, TimeStampedModel):
    """A plan inside a feature (a GSD `NN-MM-PLAN.md`)."""

    json_shapes = {
        "files_modified": shapes.SUB_FEATURE_FILES_MODIFIED,
        "must_haves": shapes.SUB_FEATURE_MUST_HAVES,
        "extra": shapes.SUB_FEATURE_EXTRA,
    }

    Status = WorkStatus

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="sub_features", db_index=False
    )
    feature = models.ForeignKey(
        Feature, on_delete=models.CASCADE, related_name="sub_features", db_index=False
    )
    key = models.CharField(max_length=50, validators=[validate_no_control_characters])
    name = models.CharField(max_length=300)
    objective = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=WorkStatus, default=WorkStatus.PLANNED)
    wave = models.PositiveSmallIntegerField(default=1)
    autonomous = models.BooleanField(default=True)
    files_modified = models.JSONField(default=list, blank=True)
    must_haves = models.JSONField(default=dict, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Where an import found it ("<format>:<source>|<scope>|<item>"), so a re-import finds
    # it again by that, not by its key or place. Empty for rows made here.
    source_identity = models.CharField(max_length=1000, blank=True, default="")
    requirements = models.ManyToManyField(Requirement, related_name="sub_features", blank=True)
    depends_on: models.ManyToManyField[SubFeature, SubFeatureDependency] = models.ManyToManyField(
        "self",
        through="SubFeatureDependency",
        symmetrical=False,
        related_name="dependents",
        blank=True,
    )

    class Meta:
        verbose_name = "sub-feature"
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="subfeature_key_unique"),
            choices_constraint("status", WorkStatus, name="subfeature_status_valid"),
            models.CheckConstraint(condition=Q(wave__gte=1), name="subfeature_wave_positive"),
        ]
        indexes = [models.Index(fields=["feature", "position", "key"], name="subfeature_order_idx")]

    def __str__(self) -> str:
        return f"{self.key} {self.name}"

    # For readers: a value saved before its shape was checked reads as empty, with a warning.
    def shaped_files_modified(self) -> list[str]:
        files: list[str] = shapes.SUB_FEATURE_FILES_MODIFIED.tolerant(
            self.files_modified, default=list, where=f"plan {self.key}"
        )
        return files

    def shaped_must_haves(self) -> dict[str, Any]:
        must_haves: dict[str, Any] = shapes.SUB_FEATURE_MUST_HAVES.tolerant(
            self.must_haves, default=dict, where=f"plan {self.key}"
        )
        return must_haves

    def shaped_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = shapes.SUB_FEATURE_EXTRA.tolerant(
            self.extra, default=dict, where=f"plan {self.key}"
        )
        return extra


class SubFeatureDependency(models.Model):
    sub_feature = models.ForeignKey(
        SubFeature, on_delete=models.CASCADE, related_name="dependency_edges", db_index=False
    )
    depends_on = models.ForeignKey(
        SubFeature, on_delete=models.CASCADE, related_name="dependent_edges"
    )

    class Meta:
        verbose_name = "sub-feature dependency"
        verbose_name_plural = "sub-feature dependencies"
        constraints = [
            models.UniqueConstraint(
                fields=["sub_feature", "depends_on"], name="subfeature_dependency_unique"
            ),
            models.CheckConstraint(
                condition=~Q(sub_feature=F("depends_on")), name="subfeature_dependency_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sub_feature_id} -> {self.depends_on_id}"


class ExternalDependency(models.Model):
    """A plan's dependency on a plan outside the project (a GSD `depends_on` naming a
    plan the import did not hold). It holds the plan's tasks back, as an unfinished plan
    would, until a person marks it satisfied."""

    sub_feature = models.ForeignKey(
        SubFeature, on_delete=models.CASCADE, related_name="external_dependencies", db_index=False
    )
    reference = models.CharField(max_length=300)
    satisfied_at = models.DateTimeField(null=True, blank=True)
    satisfied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = "external dependency"
        verbose_name_plural = "external dependencies"
        ordering = ["reference"]
        constraints = [
            models.UniqueConstraint(
                fields=["sub_feature", "reference"], name="external_dependency_unique"
            ),
            models.CheckConstraint(
                condition=Q(satisfied_by__isnull=True) | Q(satisfied_at__isnull=False),
                name="external_dependency_satisfied_by_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sub_feature_id} -> {self.reference} (outside)"

    @property
    def satisfied(self) -> bool:
        return self.satisfied_at is not None


PRIORITY_RANK = models.Case(
    models.When(priority=Priority.HIGH, then=models.Value(0)),
    models.When(priority=Priority.MEDIUM, then=models.Value(1)),
    default=models.Value(2),
)


class TaskType(models.TextChoices):
    AUTO = "auto"
    HUMAN_VERIFY = "checkpoint:human-verify"
    DECISION = "checkpoint:decision"
    HUMAN_ACTION = "checkpoint:human-action"
    TDD = "tdd"


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    BLOCKED = "blocked"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEFERRED = "deferred"


class TaskSize(models.TextChoices):
    ATOMIC = "atomic"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Task(ShapedJsonModel, TimeStampedModel):
    json_shapes = {"files": shapes.TASK_FILES, "extra": shapes.TASK_EXTRA}

    Type = TaskType

    Status = TaskStatus

    Size = TaskSize

    Priority = Priority

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    feature = models.ForeignKey(
        Feature, on_delete=models.CASCADE, null=True, blank=True, related_name="tasks"
    )
    sub_feature = models.ForeignKey(
        SubFeature,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tasks",
        db_index=False,
    )
    key = models.CharField(max_length=50, validators=[validate_no_control_characters])
    # The key with its numbers made comparable as text (`2` < `10`, `1.2` < `1.10`), set on
    # every write, so lists and `next` sort naturally off an index.
    sort_key = models.CharField(max_length=150, editable=False, default="")
    # A Task Master subtask's task: `12.3` belongs to `12`.
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="subtasks",
    )
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True, help_text="What to do: the GSD <action>.")
    files = models.JSONField(default=list, blank=True)
    verify = models.TextField(blank=True)
    done_criteria = models.TextField(blank=True)
    type = models.CharField(max_length=30, choices=Type, default=Type.AUTO)
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING)
    size = models.CharField(max_length=10, choices=Size, default=Size.SMALL)
    priority = models.CharField(max_length=10, choices=Priority, default=Priority.MEDIUM)
    # Stored so "next task" can walk one index in order instead of sorting in Python.
    priority_rank = models.GeneratedField(
        expression=PRIORITY_RANK, output_field=models.SmallIntegerField(), db_persist=True
    )
    complexity = models.PositiveSmallIntegerField(null=True, blank=True)
    wave = models.PositiveSmallIntegerField(default=1)
    # The wave as `next` orders by it: only tasks of a plan (GSD, generated) go wave by
    # wave; Task Master orders its tasks by priority, dependency count and id alone.
    next_wave = models.GeneratedField(
        expression=models.Case(
            models.When(sub_feature__isnull=True, then=models.Value(0)),
            default=F("wave"),
            output_field=models.SmallIntegerField(),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    position = models.PositiveIntegerField(default=0)
    extra = models.JSONField(default=dict, blank=True)
    # Where an import found it ("<format>:<source>|<scope>|<item>"), so a re-import finds
    # it again by that, not by its key or place. Empty for rows made here.
    source_identity = models.CharField(max_length=1000, blank=True, default="")
    depends_on: models.ManyToManyField[Task, TaskDependency] = models.ManyToManyField(
        "self",
        through="TaskDependency",
        symmetrical=False,
        related_name="dependents",
        blank=True,
    )

    assigned_agent = models.ForeignKey(
        "agents.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tasks",
    )
    worktree_path = models.CharField(max_length=500, blank=True)
    branch_name = models.CharField(max_length=200, blank=True)
    qa_iterations = models.PositiveIntegerField(default=0)
    max_iterations = models.PositiveIntegerField(default=50)
    estimated_minutes = models.PositiveIntegerField(default=15)
    actual_minutes = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Who did the work, kept after the task is done (assigned_agent is cleared then).
    coded_by = models.ForeignKey(
        "agents.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="coded_tasks",
    )
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merged_tasks",
    )
    merged_by_agent = models.ForeignKey(
        "agents.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merged_tasks",
    )
    merge_commit = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["position", "sort_key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="task_key_unique"),
            models.CheckConstraint(condition=~Q(parent=F("pk")), name="task_parent_not_self"),
            choices_constraint("type", TaskType, name="task_type_valid"),
            choices_constraint("status", TaskStatus, name="task_status_valid"),
            choices_constraint("size", TaskSize, name="task_size_valid"),
            choices_constraint("priority", Priority, name="task_priority_valid"),
            models.CheckConstraint(
                condition=Q(complexity__isnull=True) | Q(complexity__gte=1, complexity__lte=10),
                name="task_complexity_1_to_10",
            ),
            models.CheckConstraint(
                condition=Q(qa_iterations__lte=F("max_iterations")),
                name="task_qa_iterations_within_max",
            ),
            models.CheckConstraint(condition=Q(wave__gte=1), name="task_wave_positive"),
            models.CheckConstraint(
                condition=Q(sub_feature__isnull=True) | Q(feature__isnull=False),
                name="task_sub_feature_needs_feature",
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(completed_at__gte=F("started_at")),
                name="task_completed_after_started",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "status", "priority_rank", "next_wave", "sort_key"],
                name="task_next_ready_idx",
            ),
            models.Index(
                fields=["sub_feature", "position", "sort_key"], name="task_plan_order_idx"
            ),
            # The change stamp live pages poll (planning.outline.plan_stamp): count and
            # latest updated_at of a project's tasks, read off the index alone.
            models.Index(fields=["project", "updated_at"], name="task_change_stamp_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.name}"

    # For readers: a value saved before its shape was checked reads as empty, with a warning.
    def shaped_files(self) -> list[str]:
        files: list[str] = shapes.TASK_FILES.tolerant(
            self.files, default=list, where=f"task {self.key}"
        )
        return files

    def shaped_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = shapes.TASK_EXTRA.tolerant(
            self.extra, default=dict, where=f"task {self.key}"
        )
        return extra

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.sort_key = natural_sort_key(self.key)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "key" in update_fields:
            kwargs["update_fields"] = {*update_fields, "sort_key"}
        super().save(*args, **kwargs)

    @property
    def needs_human(self) -> bool:
        return self.type.startswith("checkpoint:")


class TaskDependency(models.Model):
    """`task` cannot start before `depends_on` is done."""

    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="dependency_edges", db_index=False
    )
    depends_on = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="dependent_edges", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "task dependencies"
        constraints = [
            models.UniqueConstraint(fields=["task", "depends_on"], name="task_dependency_unique"),
            models.CheckConstraint(
                condition=~Q(task=F("depends_on")), name="task_dependency_not_self"
            ),
        ]
        indexes = [models.Index(fields=["depends_on", "task"], name="task_dependents_idx")]

    def __str__(self) -> str:
        return f"{self.task_id} -> {self.depends_on_id}"


class DevPlan(TimeStampedModel):
    DEFAULT_NAME = "Main plan"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="dev_plans", db_index=False
    )
    name = models.CharField(max_length=200, default=DEFAULT_NAME)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="devplan_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.project}: {self.name}"


class DevPlanVersion(ShapedJsonModel):
    """An immutable snapshot of a plan. In the database, the content columns reject
    UPDATE and the rows reject DELETE and TRUNCATE: like the audit log, a saved version
    keeps its plan (and project) from being deleted."""

    json_shapes = {
        "snapshot": shapes.PLAN_SNAPSHOT,
        "source_identities": shapes.VERSION_SOURCE_IDENTITIES,
    }

    plan = models.ForeignKey(
        DevPlan, on_delete=models.PROTECT, related_name="versions", db_index=False
    )
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    # {kind: {key: source identity}}: lets a restore give back rows their identities.
    # Nullable with no default, so that SQLite adds the column in place: rebuilding the
    # table would drop its guard triggers. Versions saved before it read as {}.
    source_identities = models.JSONField(null=True, blank=True)
    markdown = models.TextField(blank=True)
    change_summary = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="plan_versions",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["plan", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="devplanversion_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="devplanversion_number_gte_1"),
        ]

    def shaped_source_identities(self) -> dict[str, dict[str, str]]:
        if self.source_identities is None:
            return {}
        identities: dict[str, dict[str, str]] = shapes.VERSION_SOURCE_IDENTITIES.tolerant(
            self.source_identities, default=dict, where=f"version {self.number}"
        )
        return identities

    def __str__(self) -> str:
        return f"{self.plan} v{self.number}"


class ConversationSessionKind(models.TextChoices):
    INTERVIEW = "interview"
    PLANNING = "planning"
    EXECUTION = "execution"


class ConversationSessionStatus(models.TextChoices):
    ACTIVE = "active"
    CLOSED = "closed"


class ConversationSession(ShapedJsonModel, TimeStampedModel):
    json_shapes = {"data": shapes.CONVERSATION_DATA}

    Kind = ConversationSessionKind

    Status = ConversationSessionStatus

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    kind = models.CharField(max_length=20, choices=Kind, default=Kind.PLANNING)
    status = models.CharField(max_length=20, choices=Status, default=Status.ACTIVE)
    title = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("kind", ConversationSessionKind, name="conversation_kind_valid"),
            choices_constraint(
                "status", ConversationSessionStatus, name="conversation_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["project", "kind", "-created_at"], name="conv_list_idx")]

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()} session {self.pk}"


class ConversationMessageRole(models.TextChoices):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ConversationMessage(ShapedJsonModel):
    json_shapes = {"metadata": shapes.MESSAGE_METADATA}

    Role = ConversationMessageRole

    session = models.ForeignKey(
        ConversationSession, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    role = models.CharField(max_length=20, choices=Role)
    content = models.TextField(blank=True)
    token_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            choices_constraint("role", ConversationMessageRole, name="message_role_valid")
        ]
        indexes = [models.Index(fields=["session", "created_at"], name="message_session_idx")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class ImportJobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ImportJob(ShapedJsonModel):
    """A plan file too large to import while its request waits: stored here, then parsed
    and applied by a Celery worker. Only `planning.services.import_jobs` changes one."""

    Status = ImportJobStatus
    FINISHED_STATUSES = (Status.SUCCEEDED, Status.FAILED)

    json_shapes = {"result": shapes.IMPORT_JOB_RESULT}

    # Its index is import_job_project_idx's leading column.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="import_jobs", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    file_name = models.CharField(max_length=255)
    format = models.CharField(max_length=20, default="auto")
    # As the import service's mode: "ask" fails the job with the preview's counts when the
    # file comes from another source than the plan; "replace" or "merge" apply it.
    mode = models.CharField(max_length=10, default="ask")
    # The upload until the job has finished; emptied then, so the table keeps no plans.
    data = models.BinaryField(default=b"")
    size = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=40, default="queued")
    progress = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    error_file = models.CharField(max_length=1000, blank=True, default="")
    error_line = models.PositiveIntegerField(null=True, blank=True)
    deliveries = models.PositiveSmallIntegerField(default=0)
    # Queued: when the sweep sends the message again; running: when the worker is
    # taken for dead (its time limit is shorter).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            choices_constraint("status", ImportJobStatus, name="import_job_status_valid"),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="import_job_progress_percent"
            ),
        ]
        indexes = [
            # The sweep: unfinished jobs whose lease ran out.
            models.Index(fields=["status", "lease_expires_at"], name="import_job_sweep_idx"),
            models.Index(fields=["project", "-created_at"], name="import_job_project_idx"),
        ]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.file_name} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def finished_result(self) -> dict[str, Any] | None:
        """What the import did, once it succeeded."""
        return self.result if self.status == ImportJobStatus.SUCCEEDED else None
