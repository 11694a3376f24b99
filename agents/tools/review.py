"""The reviewer agent's verdict: approve the work, or ask for changes with comments on
lines of the diff. Giving it ends the reviewer's run."""

from __future__ import annotations

from typing import Any

from agents.services import reviews
from agents.tools import ToolContext, ToolError, tool
from core.errors import DomainError

REVIEW_SUBMIT = "review_submit"


@tool(
    name=REVIEW_SUBMIT,
    description=(
        "Give your verdict on the change and end the review: 'approve' when it does what "
        "the task asks and meets its done criteria, else 'request_changes' with a comment "
        "on each line that needs work (path and line number in the new version of the file)."
    ),
    parameters={
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": ["approve", "request_changes"]},
            "summary": {"type": "string", "minLength": 1, "maxLength": 5000},
            "comments": {
                "type": "array",
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "minLength": 1, "maxLength": 500},
                        "line": {"type": "integer", "minimum": 1},
                        "body": {"type": "string", "minLength": 1, "maxLength": 5000},
                    },
                    "required": ["path", "line", "body"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["verdict", "summary"],
        "additionalProperties": False,
    },
)
def review_submit(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    run = context.run
    if run is None or run.task is None:
        raise ToolError("only a reviewer's run on a task gives a verdict")
    comments = [
        reviews.CommentInput(path=c["path"], line=c["line"], body=c["body"])
        for c in args.get("comments", [])
    ]
    try:
        review = reviews.review_submit(
            task=run.task,
            verdict=args["verdict"],
            body=args["summary"],
            comments=comments,
            reviewer_agent=run.agent,
            round_key=run.idempotency_key,
        )
    except DomainError as exc:
        raise ToolError(exc.message) from exc
    return {
        "outcome": "succeeded",
        "summary": f"{review.get_verdict_display()}: {args['summary']}",
        "review": review.pk,
    }
