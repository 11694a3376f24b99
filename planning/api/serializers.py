from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from planning.api.scoping import ProjectScopedRelatedFieldsMixin
from planning.models import (
    ConversationMessage,
    ConversationSession,
    DevPlanVersion,
    Feature,
    ImportJob,
    Project,
    ProjectMembership,
    Requirement,
    SubFeature,
    Task,
    TaskDependency,
)
from planning.selectors import ImportRows, import_job_rows
from planning.services.imports import preview_record_as_dict
from planning.services.projects import PROJECT_SETTINGS_FIELDS


class ProjectSerializer(serializers.ModelSerializer[Project]):
    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    slug = serializers.SlugField(max_length=100, required=False, allow_blank=True)
    # Whether the repository fields name a usable repository (and whether the tools exist)
    # is the service's check: it answers 400 naming the field, and writes nothing.
    enabled_tools = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="Names of agent tools enabled beyond the always-on, low-risk ones.",
    )
    max_qa_iterations = serializers.IntegerField(
        min_value=1,
        max_value=100,
        required=False,
        help_text="Failed verifications a task may have before it is blocked.",
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "mode",
            "status",
            *PROJECT_SETTINGS_FIELDS,
            "owner",
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = ["id", "owner", "created_at", "updated_at", "completed_at"]
        # Uniqueness is checked (and reported) by the service's full_clean.
        validators: list[Any] = []


# One answer for a username that does not exist and one that may not be added, so the
# endpoint tells nobody which usernames exist.
NO_USER_TO_ADD = "No active user with this username can be added."


class MembershipSerializer(serializers.ModelSerializer[ProjectMembership]):
    username = serializers.SlugRelatedField(
        source="user",
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        error_messages={"does_not_exist": NO_USER_TO_ADD, "invalid": NO_USER_TO_ADD},
    )

    class Meta:
        model = ProjectMembership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []


class MembershipRoleSerializer(serializers.ModelSerializer[ProjectMembership]):
    class Meta:
        model = ProjectMembership
        fields = ["role"]


class RequirementSerializer(
    ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[Requirement]
):
    scoped_related_fields = {"features": "project"}
    features = serializers.SlugRelatedField(
        slug_field="key", many=True, required=False, queryset=Feature.objects.all()
    )

    class Meta:
        model = Requirement
        fields = [
            "id",
            "code",
            "category",
            "description",
            "priority",
            "source",
            "validated",
            "features",
            "position",
            "created_at",
            "updated_at",
        ]
        # Set by moving it (`move/`), which keeps every other requirement's place.
        read_only_fields = ["id", "position", "created_at", "updated_at"]
        validators: list[Any] = []


class RequirementMoveSerializer(serializers.Serializer[None]):
    """Where to move a requirement in its project's order: `index` (0 is first; past
    the end is last) or `offset` places up (-) or down (+)."""

    index = serializers.IntegerField(required=False, min_value=0)
    offset = serializers.IntegerField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("index") is None and attrs.get("offset") is None:
            raise serializers.ValidationError("Say where to: an index or an offset.")
        return attrs


class FeatureSerializer(serializers.ModelSerializer[Feature]):
    task_count = serializers.IntegerField(read_only=True)
    done_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Feature
        fields = [
            "id",
            "key",
            "name",
            "description",
            "priority",
            "status",
            "position",
            "task_count",
            "done_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []


class SubFeatureSerializer(
    ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[SubFeature]
):
    scoped_related_fields = {
        "feature": "project",
        "depends_on": "project",
        "requirements": "project",
    }
    feature = serializers.SlugRelatedField(slug_field="key", queryset=Feature.objects.all())
    depends_on = serializers.SlugRelatedField(
        slug_field="key", many=True, required=False, queryset=SubFeature.objects.all()
    )
    requirements = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Requirement.objects.all()
    )

    class Meta:
        model = SubFeature
        fields = [
            "id",
            "key",
            "feature",
            "name",
            "objective",
            "status",
            "wave",
            "autonomous",
            "files_modified",
            "must_haves",
            "extra",
            "position",
            "depends_on",
            "requirements",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []


class TaskSerializer(ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[Task]):
    scoped_related_fields = {
        "feature": "project",
        "sub_feature": "project",
        "assigned_agent": "project",
    }
    feature = serializers.SlugRelatedField(
        slug_field="key", queryset=Feature.objects.all(), required=False, allow_null=True
    )
    sub_feature = serializers.SlugRelatedField(
        slug_field="key", queryset=SubFeature.objects.all(), required=False, allow_null=True
    )
    assigned_agent = serializers.PrimaryKeyRelatedField(
        # planning imports nothing of agents: the relation knows the model.
        queryset=Task._meta.get_field("assigned_agent").remote_field.model._default_manager.all(),
        required=False,
        allow_null=True,
    )
    depends_on: serializers.SlugRelatedField[Task] = serializers.SlugRelatedField(
        slug_field="key", many=True, read_only=True
    )
    # DRF takes declared fields off the class, so this does not shadow Field.parent.
    parent: serializers.SlugRelatedField[Task] = serializers.SlugRelatedField(  # type: ignore[assignment]
        slug_field="key",
        read_only=True,
        allow_null=True,
        help_text="The key of the task this one is a subtask of (Task Master's `12` for `12.3`);"
        " null for a task that is not a subtask.",
    )
    needs_human = serializers.BooleanField(read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "key",
            "name",
            "description",
            "files",
            "verify",
            "done_criteria",
            "type",
            "status",
            "size",
            "priority",
            "complexity",
            "wave",
            "position",
            "extra",
            "feature",
            "sub_feature",
            "depends_on",
            "parent",
            "needs_human",
            "assigned_agent",
            "worktree_path",
            "branch_name",
            "qa_iterations",
            "max_iterations",
            "estimated_minutes",
            "actual_minutes",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "started_at", "completed_at", "created_at", "updated_at"]
        validators: list[Any] = []


class TaskDependencySerializer(
    ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[TaskDependency]
):
    scoped_related_fields = {"task": "project", "depends_on": "project"}
    task = serializers.SlugRelatedField(slug_field="key", queryset=Task.objects.all())
    depends_on = serializers.SlugRelatedField(slug_field="key", queryset=Task.objects.all())

    class Meta:
        model = TaskDependency
        fields = ["id", "task", "depends_on", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []


class DevPlanVersionSerializer(serializers.ModelSerializer[DevPlanVersion]):
    plan = serializers.CharField(source="plan.name", read_only=True)
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = DevPlanVersion
        fields = ["number", "plan", "change_summary", "created_by", "created_at"]
        read_only_fields = fields


class DevPlanVersionDetailSerializer(DevPlanVersionSerializer):
    class Meta(DevPlanVersionSerializer.Meta):
        fields = [*DevPlanVersionSerializer.Meta.fields, "snapshot", "markdown"]
        read_only_fields = fields


class VersionCreateSerializer(serializers.Serializer[Any]):
    summary = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class PlanImportSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="A GSD .planning zip or NN-MM-PLAN.md, a tasks.json, or a Markdown PRD."
    )
    format = serializers.ChoiceField(
        choices=["auto", "gsd", "taskmaster", "markdown"], default="auto"
    )
    mode = serializers.ChoiceField(
        choices=["ask", "replace", "merge"],
        default="ask",
        help_text="`ask`: apply a re-import of a source the plan came from (or into an "
        "empty plan) at once; for any other source write nothing and answer 409 with a "
        "preview. `replace`: the plan becomes the file (rows it lacks are removed). "
        "`merge`: the file's rows are added or updated, all others stay.",
    )
    page = serializers.IntegerField(
        min_value=1, default=1, help_text="Which page of the preview's task lists (100 a page)."
    )


class PlanImportResultSerializer(serializers.Serializer[Any]):
    applied = serializers.BooleanField()
    mode = serializers.CharField()
    summary = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    created = serializers.DictField(child=serializers.IntegerField())
    updated = serializers.DictField(child=serializers.IntegerField())
    removed = serializers.DictField(child=serializers.IntegerField())
    warnings = serializers.ListField(child=serializers.CharField())


class PreviewTaskSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    name = serializers.CharField()


class PreviewChangedTaskSerializer(PreviewTaskSerializer):
    changed_fields = serializers.ListField(
        child=serializers.CharField(), help_text="The fields that change."
    )


class PreviewTaskPageSerializer(serializers.Serializer[Any]):
    added = PreviewTaskSerializer(many=True)
    changed = PreviewChangedTaskSerializer(many=True)
    removed = PreviewTaskSerializer(many=True, help_text="In the plan, not in the file.")
    page = serializers.IntegerField()
    pages = serializers.IntegerField()


class PlanImportPreviewSerializer(serializers.Serializer[Any]):
    file_source = serializers.CharField(help_text="The file's source: `<format>:<name>`.")
    plan_sources = serializers.ListField(
        child=serializers.CharField(), help_text="The sources the plan came from."
    )
    summary = serializers.CharField()
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Tasks added, changed and removed."
    )
    tasks = PreviewTaskPageSerializer()
    choices = serializers.ListField(child=serializers.CharField())


class PlanImportChoiceSerializer(serializers.Serializer[Any]):
    """A file from another source: nothing was written; send it again with a `mode`."""

    detail = serializers.CharField()
    preview = PlanImportPreviewSerializer()


class ImportErrorSerializer(serializers.Serializer[Any]):
    """Why a plan was not imported; a rule the plan breaks has only `detail`."""

    detail = serializers.CharField()
    file = serializers.CharField(allow_null=True, required=False)
    line = serializers.IntegerField(allow_null=True, required=False)


class RestoreResultSerializer(serializers.Serializer[Any]):
    summary = serializers.CharField()
    version = DevPlanVersionSerializer()
    reset = serializers.ListField(
        child=serializers.CharField(),
        help_text="Keys of the tasks sent back to pending: the version holds them with "
        "another meaning (or from another source) than the working plan.",
    )


class FeatureProgressSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    name = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    percent = serializers.IntegerField()
    remaining_minutes = serializers.IntegerField()


class AnalyticsCountsSerializer(serializers.Serializer[Any]):
    waves = serializers.IntegerField()
    wave_warnings = serializers.IntegerField()
    task_waves = serializers.IntegerField()
    critical_path = serializers.IntegerField()
    ready = serializers.IntegerField()
    blocked = serializers.IntegerField()
    done = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    progress = serializers.IntegerField()


class PlanAnalyticsSerializer(serializers.Serializer[Any]):
    """One page of the analytics: every list and map below holds its `per_page` items of
    page `page` (maps in key order); `counts` says how many each holds in all, and `next`
    is the next page's URL, null on the last."""

    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    counts = AnalyticsCountsSerializer()
    waves = serializers.DictField(child=serializers.IntegerField(), help_text="plan key → wave")
    wave_warnings = serializers.ListField(child=serializers.CharField())
    task_waves = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="task key → wave, for tasks outside a plan: 1 + their dependency depth",
    )
    critical_path = serializers.ListField(child=serializers.CharField())
    critical_path_minutes = serializers.IntegerField()
    ready = serializers.ListField(child=serializers.CharField())
    blocked = serializers.ListField(child=serializers.CharField())
    done = serializers.ListField(child=serializers.CharField())
    in_progress = serializers.ListField(child=serializers.CharField())
    progress = FeatureProgressSerializer(many=True)
    task_cycle = serializers.ListField(child=serializers.CharField(), allow_null=True)
    plan_cycle = serializers.ListField(child=serializers.CharField(), allow_null=True)


class GenerateRequestSerializer(serializers.Serializer[Any]):
    requirements = serializers.CharField(
        max_length=50_000, help_text="What to build, as prose or a Markdown list."
    )


class ConversationMessageSerializer(serializers.ModelSerializer[ConversationMessage]):
    class Meta:
        model = ConversationMessage
        fields = ["id", "role", "content", "token_count", "metadata", "created_at"]
        read_only_fields = fields


class ConversationSessionSerializer(serializers.ModelSerializer[ConversationSession]):
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ConversationSession
        fields = ["id", "kind", "status", "title", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "kind", "status", "created_by", "created_at", "updated_at"]


class ConversationSessionDetailSerializer(ConversationSessionSerializer):
    messages = ConversationMessageSerializer(many=True, read_only=True)

    class Meta(ConversationSessionSerializer.Meta):
        fields = [*ConversationSessionSerializer.Meta.fields, "messages"]


class ImportJobChoiceSerializer(serializers.Serializer[Any]):
    mode = serializers.ChoiceField(
        choices=["replace", "merge", "cancel"],
        help_text="replace: the plan becomes the file; merge: the file's tasks are added "
        "or updated and every other task stays; cancel: nothing is imported.",
    )


class ChatMessageCreateSerializer(serializers.Serializer[Any]):
    content = serializers.CharField(max_length=20_000)


class ImportJobErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    file = serializers.CharField(allow_null=True)
    line = serializers.IntegerField(allow_null=True)


class ImportJobSerializer(serializers.ModelSerializer[ImportJob]):
    """A plan import carried out by a worker. Poll `url` until `status` is succeeded
    (with `result`, as a synchronous import answers) or failed (with `errors`). A file
    from another source than the plan stops at awaiting_choice with its `preview`
    (`?page=` pages its tasks) until `choice/` says replace, merge or cancel."""

    url = serializers.SerializerMethodField()
    preview = serializers.SerializerMethodField()
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    result = PlanImportResultSerializer(allow_null=True, source="finished_result")
    progress = serializers.SerializerMethodField(
        help_text="0-100: by stage, and while the rows are applied, by row."
    )
    rows_applied = serializers.SerializerMethodField(
        help_text="While a worker applies the file: the plan rows applied so far, else null."
    )
    rows_total = serializers.SerializerMethodField(
        help_text="While a worker applies the file: the plan rows it holds, else null."
    )

    class Meta:
        model = ImportJob
        fields = [
            "id", "url", "file_name", "format", "mode", "size", "status", "stage", "progress",
            "rows_applied", "rows_total", "result", "preview", "created_by", "created_at",
            "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(PlanImportPreviewSerializer(allow_null=True))
    def get_preview(self, job: ImportJob) -> dict[str, Any] | None:
        if job.status != ImportJob.Status.AWAITING_CHOICE or "preview" not in job.result:
            return None
        request = self.context.get("request")
        page = request.query_params.get("page", "1") if request is not None else "1"
        number = int(page) if page.isdigit() else 1
        return preview_record_as_dict(job.result["preview"], page=number)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # Added here, not declared on the class: a serializer's own `errors` is a property.
        fields = super().get_fields()
        fields["errors"] = serializers.SerializerMethodField(method_name="errors_of")
        return fields

    def _rows(self, job: ImportJob) -> ImportRows | None:
        # Read once per job: progress and both counts come from the same report.
        known: dict[int, ImportRows | None] = self.context.setdefault("import_rows", {})
        if job.pk not in known:
            known[job.pk] = import_job_rows(job=job)
        return known[job.pk]

    def get_progress(self, job: ImportJob) -> int:
        rows = self._rows(job)
        return rows.percent if rows is not None else job.progress

    def get_rows_applied(self, job: ImportJob) -> int | None:
        rows = self._rows(job)
        return rows.applied if rows is not None else None

    def get_rows_total(self, job: ImportJob) -> int | None:
        rows = self._rows(job)
        return rows.total if rows is not None else None

    def get_url(self, job: ImportJob) -> str:
        return reverse(
            "planning-api:import-job-detail",
            kwargs={"project_slug": job.project.slug, "pk": job.pk},
            request=self.context.get("request"),
        )

    @extend_schema_field(ImportJobErrorSerializer(many=True))
    def errors_of(self, job: ImportJob) -> list[dict[str, Any]]:
        if not job.error:
            return []
        return [{"detail": job.error, "file": job.error_file or None, "line": job.error_line}]
