"""Forms for the planning pages. They validate input; the views hand it to services."""

from django import forms

from planning.models import Project, Task


class ProjectCreateForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "slug", "mode", "description"]
        help_texts = {"slug": "Used in URLs. Leave empty to derive it from the name."}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # project_create derives a free slug from the name when none is given.
        self.fields["slug"].required = False


class TaskStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Task.Status.choices)
