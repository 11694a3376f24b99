"""The activity feed (tool calls, decisions, planning cycles and runs, newest first) and
the usage metrics page with its server-drawn charts."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from agents import charts, selectors
from agents.models import Agent
from agents.services.external import NOT_CLAIMING
from agents.views.run_display import pretty, shown_call
from core.htmx import AuthenticatedHtmxRequest, wants_fragment
from planning import selectors as planning_selectors
from planning.models import Task

# Activity feed ---------------------------------------------------------------------------


@dataclass
class ShownActivity:
    at: datetime
    kind: str
    agent: str
    summary: str
    status: str = ""
    status_label: str = ""
    run_id: int | None = None
    task: Task | None = None
    details: list[tuple[str, str]] = field(default_factory=list)


def _agent_name(agent: Agent | None) -> str:
    return agent.name if agent is not None else ""


def _shown_activity(entry: selectors.ActivityEntry) -> ShownActivity:
    item = entry.item
    if entry.kind == "tool_call":
        call = shown_call(item, ended=False)
        details = [("Input", call.input)]
        if call.output:
            details.append(("Output", call.output))
        if call.error:
            details.append(("Error", call.error))
        duration = f" in {call.duration_ms} ms" if call.duration_ms is not None else ""
        return ShownActivity(
            at=entry.at,
            kind=entry.kind,
            agent=_agent_name(item.agent),
            summary=f"called {item.tool_name}{duration}",
            status=call.status,
            status_label=call.label,
            run_id=item.run_id,
            task=item.task,
            details=details,
        )
    if entry.kind == "decision":
        return ShownActivity(
            at=entry.at,
            kind=entry.kind,
            agent=_agent_name(item.agent),
            summary=item.decision,
            run_id=item.run_id,
            task=item.task,
            details=[("Reasoning", pretty(item.reasoning))] if item.reasoning else [],
        )
    if entry.kind in ("cycle_opened", "cycle_closed"):
        closed = entry.kind == "cycle_closed"
        values = item.outcomes if closed else item.goals
        return ShownActivity(
            at=entry.at,
            kind=entry.kind,
            agent=_agent_name(item.agent),
            summary=f"{'closed' if closed else 'opened'} planning cycle "
            f"{item.opened_id if closed else item.pk}",
            status=item.status if closed else "",
            status_label=item.get_status_display().lower() if closed else "",
            run_id=item.run_id,
            details=[("Outcomes" if closed else "Goals", pretty(values))] if values else [],
        )
    run = item
    if entry.kind == "run_started":
        summary = f"started run {run.pk}" + (f" (attempt {run.attempt})" if run.attempt > 1 else "")
        return ShownActivity(
            at=entry.at,
            kind=entry.kind,
            agent=_agent_name(run.agent),
            summary=summary,
            run_id=run.pk,
            task=run.task,
        )
    return ShownActivity(
        at=entry.at,
        kind=entry.kind,
        agent=_agent_name(run.agent),
        summary=f"run {run.pk} ended",
        status=run.status,
        status_label=run.get_status_display().lower(),
        run_id=run.pk,
        task=run.task,
        details=[("Error", run.error)] if run.error else [],
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def activity(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project's latest 100 events, newest first: tool calls, decisions, planning
    cycles, runs started and finished. Non-members get 404.

    `#activity-feed` polls every 2 s while the project hands out work (it is planning or
    active: external agents may claim then) or a run is active. A poll names the feed it
    shows (`?seen=`) and gets 204 while nothing changed, so opened <details> stay open.
    """
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    template_name = "agents/activity.html"
    entries = [_shown_activity(e) for e in selectors.activity_list(project=project)]
    seen = hashlib.blake2s(
        repr([(e.kind, e.at, e.summary, e.status) for e in entries]).encode(), digest_size=8
    ).hexdigest()
    feed_live = project.status not in NOT_CLAIMING or selectors.agent_run_has_active(
        project=project
    )
    if wants_fragment(request):
        if feed_live and request.GET.get("seen") == seen:
            return HttpResponse(status=204)
        template_name += "#activity-feed"
    context = {
        "project": project,
        "entries": entries,
        "limit": selectors.ACTIVITY_LIMIT,
        "feed_live": feed_live,
        "seen": seen,
    }
    return render(request, template_name, context)


# Metrics ---------------------------------------------------------------------------------

METRIC_DAY_CHOICES = (7, 30, 90)
DEFAULT_METRIC_DAYS = 30
NO_AGENT = "(no agent)"
NO_MODEL = "(unknown model)"


@dataclass
class UsageTable:
    rows: list[dict[str, Any]]
    tokens: float
    cost: float
    calls: int


def _usage_charts(rows: list[dict[str, Any]], days: list[date]) -> tuple[SafeString, SafeString]:
    index = {day: i for i, day in enumerate(days)}
    keys = sorted({(row["agent"], row["model"]) for row in rows})
    tokens = {key: [0.0] * len(days) for key in keys}
    cost = {key: [0.0] * len(days) for key in keys}
    for row in rows:
        i = index.get(row["day"])
        if i is None:
            continue  # an external agent may report a time outside the range
        tokens[row["agent"], row["model"]][i] += row["tokens"]
        cost[row["agent"], row["model"]][i] += row["cost"]
    categories = [day.isoformat() for day in days]
    labels = [day.strftime("%b %d") if len(days) <= 31 else day.strftime("%m-%d") for day in days]

    def chart(
        chart_id: str,
        title: str,
        values: dict[tuple[str, str], list[float]],
        y_title: str,
        fmt: Callable[[float], str],
        tick: Callable[[float], str],
    ) -> SafeString:
        return charts.stacked_bar_chart(
            chart_id=chart_id,
            title=title,
            categories=categories,
            category_labels=labels,
            series=[
                charts.Series(f"{agent} · {model}", values[agent, model]) for agent, model in keys
            ],
            x_title="Day (UTC)",
            y_title=y_title,
            format_value=fmt,
            format_tick=tick,
        )

    return (
        chart(
            "chart-tokens",
            "Tokens per day, by agent and model",
            tokens,
            "Tokens",
            lambda v: f"{v:,.0f} tokens",
            charts.compact_number,
        ),
        chart(
            "chart-cost",
            "Cost per day, by agent and model",
            cost,
            "Cost (USD)",
            charts.dollars,
            charts.dollars,
        ),
    )


@login_required
@require_GET
def metrics(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Tokens and cost per agent and model per day, as a table and as SVG bar charts
    drawn on the server, over the last 7, 30 or 90 days (`?days=`). Non-members get 404."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    try:
        day_count = int(request.GET.get("days", DEFAULT_METRIC_DAYS))
    except ValueError:
        day_count = DEFAULT_METRIC_DAYS
    if day_count not in METRIC_DAY_CHOICES:
        day_count = DEFAULT_METRIC_DAYS
    first = timezone.now().astimezone(UTC).date() - timedelta(days=day_count - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    rows = [
        {
            "day": row["day"],
            "agent": row["agent__name"] or NO_AGENT,
            "agent_id": row["agent_id"],
            "model": row["model"] or NO_MODEL,
            "tokens": row["tokens"] or 0.0,
            "cost": row["cost"] or 0.0,
            "calls": row["calls"],
        }
        for row in selectors.usage_by_day(project=project, since=since)
    ]
    days = [first + timedelta(days=n) for n in range(day_count)]
    context: dict[str, Any] = {
        "project": project,
        "day_count": day_count,
        "day_choices": METRIC_DAY_CHOICES,
        "first_day": first,
        "table": UsageTable(
            rows=sorted(rows, key=lambda r: (r["day"], r["agent"], r["model"]), reverse=True),
            tokens=sum(r["tokens"] for r in rows),
            cost=sum(r["cost"] for r in rows),
            calls=sum(r["calls"] for r in rows),
        ),
    }
    if rows:
        context["tokens_chart"], context["cost_chart"] = _usage_charts(rows, days)
    return render(request, "agents/metrics.html", context)
