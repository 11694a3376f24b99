"""A plan as a whole over the API: its versions, importing a file and its preview,
and restoring a version."""

from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from planning.models import DevPlanVersion


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
