"""What the planning agent says to a model, the replies it expects, and what the offline
provider answers.

Plan generation and the planning chat send the same prompts to every provider. With the
`offline` provider, the responders below stand in for a model: generation decomposes the
requirements with the Markdown importer's rules, and chat answers questions about the
plan (what is next, what is blocked, progress) from the facts in its prompt, without
proposing edits; expanding a task splits its description by its list items or
sentences, and refuses a description of one step.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.llm import ChatRequest, LLMError, register_offline_responder
from planning.importers.document import PlanImportError
from planning.importers.markdown import parse_markdown
from planning.plan_schema import PlanEdit

GENERATE_PURPOSE = "plan_generate"
CHAT_PURPOSE = "plan_chat"
EXPAND_PURPOSE = "task_expand"
FACTS_MARKER = "PLAN FACTS (JSON):"
TASK_MARKER = "TASK TO EXPAND (JSON):"

GENERATE_SYSTEM_PROMPT = """You are Crewboard's planning agent. Turn the requirements into a
development plan: features, each with sub-features (plans of related work), each with small
ordered tasks. Give every key a short stable identifier (features F1, F2; sub-features
F1-P1; tasks F1-P1-T1). Tasks list the tasks they depend on by key; dependencies must not
form a cycle. Reply with JSON only, matching the given schema."""

CHAT_SYSTEM_PROMPT = """You are Crewboard's planning assistant, talking with the people who
own this plan. Answer questions about it, and when asked to change it, propose edits: a list
of operations, each {"op": "add"|"update"|"remove", "entity": "feature"|"task"|"dependency",
"key": ..., "fields": {...}} or, for dependencies, {"op": "add"|"remove", "entity":
"dependency", "task": ..., "depends_on": ...}. Nothing changes until a person applies the
edits. Reply with JSON only: {"reply": "...", "edits": [...]}."""


EXPAND_SYSTEM_PROMPT = """You are Crewboard's planning agent. Split the given task into
small ordered subtasks that together do the whole task and nothing else: each one a step a
coding agent can finish and verify on its own. Give them short keys (S1, S2, ...); a subtask
lists the earlier subtasks it depends on by key. Reply with JSON only, matching the given
schema, with no more subtasks than asked for."""


def expand_request_message(*, task: dict[str, Any], num: int) -> str:
    """The user message of an expansion: the task, and how many subtasks at most."""
    payload = {"task": task, "max_subtasks": num}
    return (
        f"Split this task into at most {num} subtasks.\n"
        f"{TASK_MARKER}\n{json.dumps(payload, ensure_ascii=False, sort_keys=True)}"
    )


class ChatReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reply: str = Field(min_length=1)
    edits: list[PlanEdit] = []


def chat_reply_schema() -> dict[str, Any]:
    return ChatReply.model_json_schema()


def facts_message(facts: dict[str, Any]) -> str:
    return f"{FACTS_MARKER}\n{json.dumps(facts, ensure_ascii=False, sort_keys=True)}"


# Offline responders ---------------------------------------------------------------------


@register_offline_responder(GENERATE_PURPOSE)
def offline_generate(request: ChatRequest) -> str:
    """Decompose the requirements the way the Markdown importer reads a PRD: `- [x]`
    items are done, and "after X" / "after X and after Y" are dependencies. A reference
    that names no task is kept as a note with a warning, as on import: requirements are
    free text, not a file to correct."""
    said = request.last_user_message
    try:
        document = parse_markdown(said, path="requirements")
    except PlanImportError:
        # Prose without a list: every non-empty line becomes a task of one feature.
        lines = [line.strip(" -*") for line in said.splitlines()]
        text = "## Plan\n" + "\n".join(f"- {line}" for line in lines if line)
        document = parse_markdown(text, path="requirements")
    features = []
    for feature in document.features:
        tasks = [t for t in document.tasks if t.feature == feature.key]
        features.append(
            {
                "key": feature.key,
                "name": feature.name,
                "description": feature.description,
                "sub_features": [
                    {
                        "key": f"{feature.key}-P1",
                        "name": feature.name,
                        "objective": feature.description,
                        "tasks": [
                            {
                                "key": t.key,
                                "name": t.name,
                                "description": t.description,
                                "priority": t.priority,
                                "depends_on": t.depends_on,
                                "done": t.status == "done",
                            }
                            for t in tasks
                        ],
                    }
                ],
            }
        )
    return json.dumps({"features": features})


@register_offline_responder(CHAT_PURPOSE)
def offline_chat(request: ChatRequest) -> str:
    """Answer what is next, what is blocked and how far along the plan is."""
    facts: dict[str, Any] = {}
    for message in request.messages:
        if message.role == "system" and message.content and FACTS_MARKER in message.content:
            facts = json.loads(message.content.split(FACTS_MARKER, 1)[1])
    question = request.last_user_message.lower()
    answers = []
    if re.search(r"\b(next|start|work on)\b", question):
        nxt = facts.get("next")
        if nxt:
            person = " It is a checkpoint: a person has to act." if nxt.get("needs_human") else ""
            answers.append(f"Next up: {nxt['key']} {nxt['name']}.{person}")
        else:
            answers.append("Nothing is ready to start.")
        started = facts.get("in_progress", [])
        if started:
            answers.append(f"In progress: {', '.join(started[:10])}.")
    if re.search(r"\b(block|blocked|waiting|stuck)\b", question):
        blocked = facts.get("blocked", [])
        answers.append(
            f"{len(blocked)} tasks are waiting: {', '.join(blocked[:10])}."
            if blocked
            else "Nothing is blocked."
        )
    if re.search(r"\b(progress|status|done|how far|complete)\b", question):
        lines = [
            f"{p['key']} {p['name']}: {p['done']}/{p['total']} done"
            for p in facts.get("progress", [])
        ]
        answers.append("Progress: " + ("; ".join(lines) if lines else "no tasks yet") + ".")
    if not answers:
        answers.append(
            "Offline, I can tell you what is next, what is blocked and the progress per "
            "feature. Editing the plan needs a model: set LLM_PROVIDER=openai."
        )
    return json.dumps({"reply": " ".join(answers), "edits": []})


# A list item in a task's description: `- x`, `* x`, `1. x`, `1) x`, `- [ ] x`.
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(?P<text>\S.*)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(])")
_NAME_CHARS = 120


def _steps_of(text: str) -> list[str]:
    """The steps a description spells out: its list items, else its sentences."""
    items = [m["text"].strip() for line in text.splitlines() if (m := _LIST_ITEM.match(line))]
    if len(items) >= 2:
        return items
    prose = " ".join(text.split())
    return [sentence for sentence in _SENTENCE_END.split(prose) if sentence.strip()]


def _grouped(steps: list[str], groups: int) -> list[str]:
    # More steps than subtasks asked for: consecutive steps share a subtask, none is lost.
    size, extra = divmod(len(steps), groups)
    chunks, start = [], 0
    for number in range(groups):
        end = start + size + (1 if number < extra else 0)
        chunks.append(" ".join(steps[start:end]))
        start = end
    return chunks


@register_offline_responder(EXPAND_PURPOSE)
def offline_expand(request: ChatRequest) -> str:
    """Split the task by the list items (else the sentences) of its description, one
    subtask each, in order, each after the one before. A description of one step cannot
    be split without a model: that is refused rather than invented."""
    payload = json.loads(request.last_user_message.split(TASK_MARKER, 1)[1])
    task, num = payload["task"], int(payload["max_subtasks"])
    steps = _steps_of(task.get("description") or "")
    if len(steps) < 2:
        raise LLMError(
            f"The offline provider splits a task by the list items or sentences of its "
            f"description, and {task['key']}'s holds {'one step' if steps else 'none'}. "
            "List its steps in the description, or set LLM_PROVIDER=openai to ask a model.",
            kind="refused",
            provider="offline",
            model="offline",
        )
    subtasks = []
    for number, step in enumerate(_grouped(steps, min(num, len(steps))), start=1):
        name = step if len(step) <= _NAME_CHARS else f"{step[: _NAME_CHARS - 1]}…"
        subtasks.append(
            {
                "key": f"S{number}",
                "name": name,
                "description": step,
                "priority": task.get("priority", "medium"),
                "depends_on": [f"S{number - 1}"] if number > 1 else [],
            }
        )
    return json.dumps({"subtasks": subtasks})
