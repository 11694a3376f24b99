"""The plan's rows over the API: requirements, features, sub-features, tasks and their
dependencies."""

from typing import Any

from rest_framework import serializers

from planning.api.scoping import ProjectScopedRelatedFieldsMixin
from planning.models import Feature, Requirement, SubFeature, Task, TaskDependency


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
