"""Forms for the planning pages. They validate input; the views hand it to services."""

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import MinValueValidator
from django.db.models import QuerySet

from core.errors import DomainError
from planning.importers import FORMATS
from planning.models import Feature, Priority, Project, ProjectMembership, Requirement, Task
from planning.services.projects import PROJECT_SETTINGS_FIELDS
from planning.services.repositories import project_repository_check
from planning.tool_options import enabled_tools_error, tool_options


class ProjectCreateForm(forms.ModelForm[Project]):
    class Meta:
        model = Project
        fields = ["name", "slug", "mode", "description"]
        help_texts = {"slug": "Used in URLs. Leave empty to derive it from the name."}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # project_create derives a free slug from the name when none is given.
        self.fields["slug"].required = False


class ProjectSettingsForm(forms.ModelForm[Project]):
    """What the project is called and how agents work on its code. Whether the
    repository fields name a usable repository is the service's check; the view puts its
    error on the field."""

    enabled_tools = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tools agents may use beyond the always-on, low-risk ones.",
    )

    class Meta:
        model = Project
        fields = ["name", "description", "mode", *PROJECT_SETTINGS_FIELDS]
        labels = {
            "max_concurrent_runs": "Concurrent runs",
            "root_path": "Root path",
            "repository_url": "Repository URL",
            "max_qa_iterations": "Max QA iterations",
        }
        help_texts = {
            "root_path": "Absolute path of a git checkout on the worker's disk. Agents work in "
            "worktrees made from it; the checkout itself is never changed.",
            "repository_url": "With no root path, this repository (a local path, file:// or "
            "https:// URL) is cloned for the project, and the clone becomes its root path.",
            "base_branch": "The branch each task's worktree starts from, and approved work "
            "merges into.",
            "keep_branches": "Keep a task's branch after it is merged (it is deleted otherwise).",
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "setup_command": forms.Textarea(attrs={"rows": 2, "placeholder": "make install"}),
            "verify_command": forms.Textarea(attrs={"rows": 2, "placeholder": "make test"}),
        }

    def __init__(self, *args: Any, can_write: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("max_qa_iterations", "max_concurrent_runs"):
            at_least_one = self.fields[name]
            at_least_one.validators.append(MinValueValidator(1))
            at_least_one.widget.attrs["min"] = 1
        tools = self.fields["enabled_tools"]
        assert isinstance(tools, forms.MultipleChoiceField)
        tools.choices = self._tool_choices()
        if not can_write:
            for field in self.fields.values():
                field.disabled = True

    def _tool_choices(self) -> list[tuple[str, str]]:
        options = tool_options() or []
        choices = [(o.name, f"{o.name} ({o.risk} risk): {o.description}") for o in options]
        # A tool enabled earlier whose module is gone stays listed, so saving keeps it.
        known = {o.name for o in options}
        stored = self.instance.enabled_tools if self.instance.pk else []
        choices += [(name, f"{name} (not installed)") for name in stored if name not in known]
        if not choices:
            self.fields[
                "enabled_tools"
            ].help_text = "No tool beyond the always-on, low-risk ones is installed."
        return choices


class ProjectAdminForm(forms.ModelForm[Project]):
    """The admin's project form: the service's checks of the repository and the
    coding-run settings, shown on their fields before the admin saves."""

    class Meta:
        model = Project
        fields: list[str] = []  # ProjectAdmin.get_fields says which

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("max_qa_iterations", "max_concurrent_runs"):
            if name in self.fields:
                self.fields[name].validators.append(MinValueValidator(1))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if "enabled_tools" in self.fields and "enabled_tools" in data:
            problem = enabled_tools_error(
                data["enabled_tools"],
                already=self.instance.enabled_tools if self.instance.pk else [],
            )
            if problem:
                self.add_error("enabled_tools", problem)
        repository = ("root_path", "repository_url", "base_branch")
        if self.errors or not (set(repository) & set(self.changed_data) or not self.instance.pk):
            return data
        try:
            project_repository_check(
                slug=data.get("slug") or self.instance.slug,
                **{name: data.get(name, getattr(self.instance, name)) for name in repository},
            )
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


class TaskStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Task.Status.choices)


class TaskEditForm(forms.Form):
    """A task's fields that its page edits in place."""

    name = forms.CharField(max_length=300)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}))
    priority = forms.ChoiceField(choices=Task.Priority.choices)
    status = forms.ChoiceField(choices=Task.Status.choices)


class TaskAssignForm(forms.Form):
    """The agent a task is given to, among the project's (`agents`: id and name pairs)."""

    agent = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)

    def __init__(self, *args: Any, agents: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["agent"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "Nobody"), *agents]


class SubtaskAddForm(forms.Form):
    key = forms.CharField(max_length=50)
    name = forms.CharField(max_length=300)


class TaskDependencyAddForm(forms.Form):
    key = forms.CharField(max_length=50, label="Waits for (task key)")


IMPORT_FORMAT_LABELS = {
    "auto": "Detect from the file",
    "gsd": "GSD (.planning/)",
    "taskmaster": "Task Master (tasks.json)",
    "markdown": "Markdown PRD",
}


class PlanImportForm(forms.Form):
    file = forms.FileField(
        help_text="A GSD .planning/ zip or NN-MM-PLAN.md, a Task Master tasks.json, "
        "or a Markdown PRD."
    )
    format = forms.ChoiceField(
        choices=[(fmt, IMPORT_FORMAT_LABELS[fmt]) for fmt in FORMATS],
        initial="auto",
    )

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        # Checked before reading: the importer's own limit applies to the unpacked files.
        # FileField has refused an upload of no size already.
        size = upload.size or 0
        limit = settings.IMPORT_MAX_BYTES
        if size > limit:
            raise forms.ValidationError(
                f"The file is {size // 1024 // 1024} MB; "
                f"at most {limit // 1024 // 1024} MB can be imported."
            )
        return upload


class PlanImportChoiceForm(forms.Form):
    """The answer to an import's preview: the file kept on the server, and its buttons'
    choice (none: another page of the preview)."""

    stash = forms.CharField(max_length=64)
    format = forms.ChoiceField(choices=[(fmt, fmt) for fmt in FORMATS])
    mode = forms.ChoiceField(
        required=False, choices=[("", "preview"), ("replace", "replace"), ("merge", "merge")]
    )
    page = forms.IntegerField(required=False, min_value=1)


class ImportJobChoiceForm(forms.Form):
    """The answer to a previewed import job's buttons."""

    mode = forms.ChoiceField(
        choices=[("replace", "replace"), ("merge", "merge"), ("cancel", "cancel")]
    )


class VersionCreateForm(forms.Form):
    summary = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "What this version is (optional)"}),
    )


class PlanGenerateForm(forms.Form):
    # Emptiness and the length limit are the service's rules; it words the errors.
    requirements = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="What to build, in prose or Markdown. The planner turns it into features, "
        "sub-features and tasks and saves the plan as a new version.",
    )


class ChatSessionForm(forms.Form):
    title = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Title (optional)"}),
    )


class ChatMessageForm(forms.Form):
    content = forms.CharField(
        label="Message",
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "Ask about the plan, or ask for a change"}
        ),
    )


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=ProjectMembership.Role.choices, initial="editor")


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ProjectMembership.Role.choices)


# The plan page's own editing forms. Plain forms, not ModelForms: a ModelForm would set
# the instance's fields while validating, and the services compare against them.


class FeatureForm(forms.Form):
    key = forms.CharField(max_length=50, help_text="Short and unique in the project, e.g. 03.")
    name = forms.CharField(max_length=300)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.MEDIUM)


class SubFeatureForm(forms.Form):
    key = forms.CharField(max_length=50, help_text="Unique in the project, e.g. 03-02.")
    name = forms.CharField(max_length=300)
    objective = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    wave = forms.IntegerField(min_value=1, max_value=32767, initial=1)
    autonomous = forms.BooleanField(
        required=False, initial=True, help_text="Agents may finish it without a human checkpoint."
    )


class PlanTaskForm(forms.Form):
    key = forms.CharField(max_length=50, help_text="Unique in the project, e.g. 03-02-T1.")
    name = forms.CharField(max_length=300)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    type = forms.ChoiceField(choices=Task.Type.choices, initial=Task.Type.AUTO)
    priority = forms.ChoiceField(choices=Task.Priority.choices, initial=Task.Priority.MEDIUM)
    size = forms.ChoiceField(choices=Task.Size.choices, initial=Task.Size.SMALL)


class RequirementForm(forms.Form):
    code = forms.CharField(max_length=50, required=False, help_text="e.g. REQ-07; optional.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    category = forms.CharField(max_length=100, required=False)
    priority = forms.ChoiceField(choices=Requirement.Priority.choices, initial="should")


class PlanMoveForm(forms.Form):
    """A move among siblings: `offset` places (the up/down buttons) or to `index` (a drag)."""

    offset = forms.IntegerField(required=False)
    index = forms.IntegerField(required=False, min_value=0)

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if data.get("offset") is None and data.get("index") is None:
            raise forms.ValidationError("Say where to: an offset or an index.")
        return data


class RequirementLinkForm(forms.Form):
    feature = forms.ModelChoiceField(queryset=Feature.objects.none(), empty_label="Feature…")

    def __init__(self, *args: Any, features: QuerySet[Feature], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["feature"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = features
