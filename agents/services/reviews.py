"""The one owner of a review's life: a verdict on a verified coding attempt.

```
  task in review ── approve ─────────▶ merge (agents.services.merges)
       │                                 (a reviewer agent's approval waits for a person
       │                                  when the project reviews agent_then_human)
       ├── request changes ──▶ the attempt runs again with the comments (runs.reopen);
       │                       a QA iteration: at the project's limit, blocked
       └── abandon ─────────▶ cancelled; its worktree goes (its branch stays)
```
Reviews and their comments are immutable rows: each look at the work is a new one. A
project's `review` setting says who reviews: a reviewer agent, a person, or an agent
and then a person. People can always review; a reviewer agent never merges work a
person must see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery

from agents import selectors
from agents.models import Agent, AgentRun, Merge, Review, ReviewComment, Workspace
from agents.prompts import review_goal
from agents.services import coding, merges, runs
from agents.services.logs import decision_record
from core import git
from core.errors import ConflictError, DomainError
from planning.models import Project, Task

MAX_COMMENTS = 500
MAX_BODY_CHARS = 20_000
# What the coder is shown of each comment's line, at most.
LINE_TEXT_CHARS = 500


@dataclass(frozen=True)
class CommentInput:
    path: str
    line: int
    body: str
    side: str = ReviewComment.Side.NEW


class ReviewError(DomainError):
    """A review that cannot be recorded as given; the message says why."""


def attempt_for_review(*, task: Task) -> AgentRun | None:
    """The task's latest finished coding attempt with a branch: the work a review is
    about (None when there is none)."""
    return (
        AgentRun.objects.filter(
            task=task,
            kind=AgentRun.Kind.TASK,
            status=AgentRun.Status.SUCCEEDED,
        )
        .exclude(branch_name="")
        .select_related("agent", "project", "task")
        .order_by("-created_at", "-pk")
        .first()
    )


def review_submit(
    *,
    task: Task,
    verdict: str,
    body: str = "",
    comments: Sequence[CommentInput] = (),
    reviewer: User | None = None,
    reviewer_agent: Agent | None = None,
    round_key: str = "",
) -> Review:
    """Record a person's (`reviewer`) or a reviewer agent's verdict on the task's
    attempt, with line comments, and act on it in the same transaction. A reviewer
    agent passes its run's `round_key`: a verdict on a round that has passed is refused.

    Raises ReviewError for a bad verdict or comment (nothing is written) and
    ConflictError when the task is not waiting for review.
    """
    if verdict not in Review.Verdict.values:
        raise ReviewError(
            f"{verdict!r} is not a verdict: use one of {', '.join(Review.Verdict.values)}.",
            field="verdict",
        )
    if (reviewer is None) == (reviewer_agent is None):
        raise ReviewError("A review is by one person or one reviewer agent.")
    _check_comments(comments, body)
    with transaction.atomic():
        # Locks in the usual order, the attempt's agent and then the task, so two
        # verdicts on one attempt are taken one after the other.
        attempt = attempt_for_review(task=task)
        if attempt is not None:
            Agent.objects.select_for_update(no_key=True).filter(pk=attempt.agent_id).first()
        task = Task.objects.select_for_update().select_related("project").get(pk=task.pk)
        if task.status != Task.Status.REVIEW:
            raise ConflictError(
                f"{task.key} is {task.get_status_display().lower()}, not waiting for review."
            )
        attempt = attempt_for_review(task=task)
        if attempt is None:
            raise ConflictError(f"{task.key} has no finished attempt with a branch to review.")
        if round_key and round_key != review_run_key(attempt.pk, task.qa_iterations):
            raise ConflictError(
                f"{task.key} changed since this review began (a newer attempt or round of "
                "changes): the verdict is not taken."
            )
        _check_merge(task, verdict)
        base, head = _commits(task.project, attempt)
        review = Review.objects.create(
            project=task.project,
            task=task,
            run=attempt,
            reviewer=reviewer,
            reviewer_agent=reviewer_agent,
            verdict=verdict,
            body=body.strip(),
            base_commit=base,
            head_commit=head,
        )
        texts = _line_texts(task.project, comments, base=base, head=head)
        ReviewComment.objects.bulk_create(
            ReviewComment(
                review=review,
                path=c.path.strip(),
                line=c.line,
                side=c.side,
                line_text=texts.get((c.path.strip(), c.side, c.line), ""),
                body=c.body.strip(),
            )
            for c in comments
        )
        _act(review, task, attempt, comments)
    return review


def _check_merge(task: Task, verdict: str) -> None:
    """An approved task's merge runs its course: it is approved once, and a review that
    asks for changes or abandons it calls off a merge that waits for a clean checkout
    (never one under way)."""
    if verdict == Review.Verdict.APPROVE:
        if Merge.objects.filter(task=task, status__in=Merge.OPEN_STATUSES).exists():
            raise ConflictError(f"{task.key} is approved already; its merge is on its way.")
        return
    merges.merge_withdraw(
        task=task, reason=f"Called off: a later review of {task.key} gave another verdict."
    )


def _check_comments(comments: Sequence[CommentInput], body: str) -> None:
    if len(body) > MAX_BODY_CHARS:
        raise ReviewError(f"The review's text is over {MAX_BODY_CHARS} characters.", field="body")
    if len(comments) > MAX_COMMENTS:
        raise ReviewError(f"A review takes at most {MAX_COMMENTS} comments.", field="comments")
    for number, comment in enumerate(comments, start=1):
        where = f"Comment {number}"
        if not comment.path.strip() or len(comment.path) > 500:
            raise ReviewError(f"{where} needs the path of a file in the diff.", field="comments")
        if isinstance(comment.line, bool) or not isinstance(comment.line, int) or comment.line < 1:
            raise ReviewError(f"{where} needs a line number of 1 or more.", field="comments")
        if comment.side not in ReviewComment.Side.values:
            raise ReviewError(f"{where}: side is 'new' or 'old'.", field="comments")
        if not comment.body.strip():
            raise ReviewError(
                f"{where} on {comment.path}:{comment.line} is empty.", field="comments"
            )
        if len(comment.body) > MAX_BODY_CHARS:
            raise ReviewError(f"{where} is over {MAX_BODY_CHARS} characters.", field="comments")


def _commits(project: Project, attempt: AgentRun) -> tuple[str, str]:
    """The attempt's base commit and its branch's head ("" for what cannot be found: a
    branch deleted by hand is reviewed by its verdict alone and fails to merge)."""
    base = Workspace.objects.filter(run=attempt).values_list("base_commit", flat=True).first() or ""
    if not project.root_path:
        return base, ""
    try:
        head = git.rev_parse(project.root_path, f"refs/heads/{attempt.branch_name}")
    except git.GitError:
        head = ""
    return base, head


def _line_texts(
    project: Project, comments: Sequence[CommentInput], *, base: str, head: str
) -> dict[tuple[str, str, int], str]:
    """Each commented line's text as it is now, so a later version can tell whether the
    comment still applies (one `git show` a file and side)."""
    found: dict[tuple[str, str, int], str] = {}
    if not project.root_path:
        return found
    wanted: dict[tuple[str, str], set[int]] = {}
    for c in comments:
        wanted.setdefault((c.path.strip(), c.side), set()).add(c.line)
    for (path, side), lines in wanted.items():
        commit = head if side == ReviewComment.Side.NEW else base
        if not commit:
            continue
        try:
            text = git.git("show", f"{commit}:{path}", cwd=Path(project.root_path))
        except git.GitError:
            continue  # a file not in that commit: the comment has no line to anchor to
        file_lines = text.splitlines()
        for line in lines:
            if line <= len(file_lines):
                found[(path, side, line)] = file_lines[line - 1][:LINE_TEXT_CHARS]
    return found


def _act(review: Review, task: Task, attempt: AgentRun, comments: Sequence[CommentInput]) -> None:
    who = review.reviewer_label
    project = task.project
    decision_record(
        project=project,
        task=task,
        decision=f"{who}: {review.get_verdict_display().lower()} on {task.key}",
        reasoning={"review": review.pk, "comments": len(comments), "head": review.head_commit},
    )
    if review.verdict == Review.Verdict.ABANDON:
        coding.task_abandon(task=task, actor=review.reviewer, note=review.body)
    elif review.verdict == Review.Verdict.REQUEST_CHANGES:
        runs.run_changes_requested(run_id=attempt.pk, feedback=changes_feedback(review))
    elif review.reviewer_agent_id is not None and project.review == Project.Review.AGENT_THEN_HUMAN:
        pass  # the agent's approval is advice: a person approves the merge
    else:
        merges.merge_request(
            task=task,
            run=attempt,
            head_commit=review.head_commit,
            by=review.reviewer,
            agent=_merger(project),
        )


def _merger(project: Project) -> Agent | None:
    return (
        project.agents.filter(type=Agent.Type.MERGER)
        .exclude(status=Agent.Status.TERMINATED)
        .order_by("name")
        .first()
    )


def changes_feedback(review: Review) -> str:
    """What the coder is told of a review that asks for changes."""
    lines = [f"{review.reviewer_label} reviewed your work and asks for changes."]
    if review.body:
        lines += ["", review.body]
    comments = list(review.comments.all())
    if comments:
        lines += ["", "Comments on the code:"]
    for c in comments:
        where = f"{c.path}:{c.line}" + (" (old side)" if c.side == ReviewComment.Side.OLD else "")
        quoted = f"\n    > {c.line_text.strip()}" if c.line_text.strip() else ""
        lines.append(f"- {where}{quoted}\n  {c.body}")
    lines += ["", "Make the changes, commit them, and finish again."]
    return "\n".join(lines)


def changes_requested_feedback(*, task: Task) -> str:
    """What an agent taking the task up again is told, when its last review asked for
    changes ("" otherwise; no query for a task never sent back)."""
    if task.qa_iterations == 0:
        return ""
    last = selectors.review_list(task=task).first()
    if last is None or last.verdict != Review.Verdict.REQUEST_CHANGES:
        return ""
    return changes_feedback(last)


# Reviewer agents ----------------------------------------------------------------------------


def review_run_key(attempt_id: int, qa_iterations: int) -> str:
    # One reviewer run per attempt and round of changes, however often dispatch runs.
    return f"review-{attempt_id}-{qa_iterations}"


def review_runs_start(*, project: Project, agents: Sequence[Agent], slots: int) -> list[AgentRun]:
    """Start reviewer agents (idle, locked by the dispatch) on tasks waiting for a
    reviewer agent's verdict, oldest first, up to `slots` (inside the dispatch's
    transaction). A project reviewed by people alone starts none."""
    if project.review == Project.Review.HUMAN or not agents or slots <= 0:
        return []
    latest = (
        AgentRun.objects.filter(
            task=OuterRef("pk"), kind=AgentRun.Kind.TASK, status=AgentRun.Status.SUCCEEDED
        )
        .exclude(branch_name="")
        .order_by("-created_at", "-pk")
    )
    on_its_way = Merge.objects.filter(
        task=OuterRef("pk"), status__in=[*Merge.OPEN_STATUSES, Merge.Status.PULL_REQUEST]
    )
    waiting = list(
        project.tasks.filter(status=Task.Status.REVIEW)
        .annotate(attempt_id=Subquery(latest.values("pk")[:1]))
        .filter(attempt_id__isnull=False)
        .exclude(Exists(on_its_way))
        .order_by("updated_at", "pk")[: slots * 4 + 8]
    )
    keys = {review_run_key(t.attempt_id, t.qa_iterations): t for t in waiting}
    reviewed = set(
        AgentRun.objects.filter(project=project, idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    todo = [(key, task) for key, task in keys.items() if key not in reviewed]
    attempts = AgentRun.objects.in_bulk([t.attempt_id for _, t in todo])
    started = []
    for agent, (key, task) in zip(agents, todo[:slots], strict=False):
        attempt = attempts[task.attempt_id]
        run = runs.agent_run_create(
            project=project,
            agent=agent,
            task=task,
            kind=AgentRun.Kind.REVIEW,
            idempotency_key=key,
            payload={"attempt_run_id": attempt.pk},
        )
        # The reviewer reads the attempt's worktree, on the host that holds it.
        run.worktree_path = attempt.worktree_path
        run.branch_name = attempt.branch_name
        run.worker_queue = attempt.worker_queue
        run.save(update_fields=["worktree_path", "branch_name", "worker_queue", "updated_at"])
        run.task = task
        goal = review_goal(run, base_branch=project.base_branch, attempt_branch=attempt.branch_name)
        started.append(runs.run_start(run=run, goal=goal))
    return started
