"""Forms for the planning pages. They validate input; the views hand it to services."""

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from planning.importers import FORMATS, MAX_BYTES
from planning.models import Project, Task


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


class TaskStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Task.Status.choices)


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
        if size > MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {size // 1024 // 1024} MB; "
                f"at most {MAX_BYTES // 1024 // 1024} MB can be imported."
            )
        return upload


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
