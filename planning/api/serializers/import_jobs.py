"""Plan imports carried out by a worker, over the API."""

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from planning.api.serializers.plan_files import (
    PlanImportPreviewSerializer,
    PlanImportResultSerializer,
)
from planning.models import ImportJob
from planning.selectors import ImportRows, import_job_rows
from planning.services.imports import preview_record_as_dict


class ImportJobChoiceSerializer(serializers.Serializer[Any]):
    mode = serializers.ChoiceField(
        choices=["replace", "merge", "cancel"],
        help_text="replace: the plan becomes the file; merge: the file's tasks are added "
        "or updated and every other task stays; cancel: nothing is imported.",
    )


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
