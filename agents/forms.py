"""Forms for the agent pages. They validate input; the views hand it to services."""

import re
import shlex
from typing import Any

from django import forms

from agents.models import Agent
from agents.workspaces.executors import executor_command_error
from planning.models import Executor

# What a shell takes as it is: the placeholders need no quotes.
_PLAIN_WORD = re.compile(r"[\w@%+=:,./{}-]+")


def command_line(argv: list[str]) -> str:
    """An argv as the command line a person would type, which shlex splits back."""
    return " ".join(part if _PLAIN_WORD.fullmatch(part) else shlex.quote(part) for part in argv)


class _ExecutorCommandForm(forms.Form):
    """The command line of a `command` executor, typed as a shell would split it."""

    executor_command = forms.CharField(
        label="Command",
        max_length=2000,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "./my-agent.sh {prompt_file} {worktree}"}),
        help_text="For a command of your own: the command line, split like a shell's; "
        "{worktree} and {prompt_file} become the task's worktree and its prompt's file.",
    )

    def clean_executor_command(self) -> list[str]:
        text = self.cleaned_data.get("executor_command") or ""
        try:
            return shlex.split(text)
        except ValueError as exc:
            raise forms.ValidationError(f"The command cannot be split: {exc}.") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("executor") == Executor.COMMAND:
            problem = executor_command_error(data.get("executor_command"))
            if problem:
                self.add_error("executor_command", problem)
        return data


class AgentCreateForm(_ExecutorCommandForm):
    name = forms.CharField(max_length=100)
    type = forms.ChoiceField(choices=Agent.Type.choices, initial=Agent.Type.CODER)
    model = forms.CharField(max_length=200, required=False, help_text="Optional model name.")
    executor = forms.ChoiceField(
        choices=[("", "Project default"), *Executor.choices],
        required=False,
        help_text="The built-in loop, or the coding CLI that writes this agent's code.",
    )

    def agent_fields(self) -> dict[str, Any]:
        """What the services take: the executor only when one was picked."""
        fields = dict(self.cleaned_data)
        if not fields.get("executor"):
            fields.pop("executor", None)
        return fields


class AgentExecutorForm(_ExecutorCommandForm):
    """What writes an agent's code: the built-in loop, a coding CLI, or a command of
    your own, whose line `{worktree}` and `{prompt_file}` are put into."""

    executor = forms.ChoiceField(
        choices=Executor.choices,
        help_text="The built-in loop needs a model that writes code (LLM_PROVIDER=openai); "
        "a coding CLI or a command of your own needs none.",
    )
    field_order = ["executor", "executor_command"]

    @classmethod
    def for_agent(cls, agent: Agent) -> "AgentExecutorForm":
        return cls(
            initial={
                "executor": agent.executor,
                "executor_command": command_line(agent.executor_command or []),
            }
        )


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


class CheckpointRestoreForm(forms.Form):
    git_branch = forms.BooleanField(
        required=False,
        label="Also point a branch at the checkpoint's commit",
        help_text="git branch only: your checkout, its files and HEAD stay as they are.",
    )


class CheckpointAnswerForm(forms.Form):
    verdict = forms.ChoiceField(
        choices=[("approve", "approve"), ("reject", "reject")], required=False
    )
    choice = forms.CharField(max_length=100, required=False)
    note = forms.CharField(max_length=2000, required=False, widget=forms.Textarea)


class DraftCommentForm(forms.Form):
    """A comment on one line of the diff, kept as a draft until the verdict."""

    path = forms.CharField(max_length=500)
    line = forms.IntegerField(min_value=1, max_value=10_000_000)
    side = forms.ChoiceField(choices=[("new", "new"), ("old", "old")], initial="new")
    # autofocus: htmx focuses it when the form is swapped in beside the diff.
    body = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 3, "autofocus": True, "placeholder": "What should change here?"}
        ),
        max_length=20_000,
    )


class ReviewVerdictForm(forms.Form):
    verdict = forms.ChoiceField(
        choices=[
            ("approve", "Approve"),
            ("request_changes", "Request changes"),
            ("abandon", "Abandon"),
        ]
    )
    body = forms.CharField(
        label="Review",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What you think of the change"}),
    )
