"""Forms for the agent pages. They validate input; the views hand it to services."""

from django import forms

from agents.models import Agent


class AgentCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    type = forms.ChoiceField(choices=Agent.Type.choices, initial=Agent.Type.CODER)
    model = forms.CharField(max_length=200, required=False, help_text="Optional model name.")


class CheckpointCreateForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Name, e.g. before the refactor"}),
    )
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "Why (optional)"}),
    )


class CheckpointAnswerForm(forms.Form):
    verdict = forms.ChoiceField(
        choices=[("approve", "approve"), ("reject", "reject")], required=False
    )
    choice = forms.CharField(max_length=100, required=False)
    note = forms.CharField(max_length=2000, required=False, widget=forms.Textarea)
