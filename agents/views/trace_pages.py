"""A run's trace in pages: an ended run's steps and the tool calls reported outside a
step, in the order they happened; a live run's calls outside a step."""

from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from agents.models import AgentStep, ToolCall

# An ended run's trace shows this many steps a page,
STEPS_PER_PAGE = 10
# and this many tool calls outside a step (an external agent may report thousands).
LOOSE_CALLS_PER_PAGE = 100


@dataclass(frozen=True)
class TracePage:
    """One page: its steps, the ids of its calls outside a step, and where each begins
    among all of them (1-based; 0 when the page has none)."""

    steps: list[AgentStep]
    loose_ids: list[int]
    first_step: int
    first_loose: int
    # The calls of steps numbered above this one belong to this page and those after,
    after_step: int
    # up to this one (None: every step above, for the last page).
    upto_step: int | None


def trace_pages(steps: list[AgentStep], loose: list[tuple[int, datetime]]) -> list[TracePage]:
    """The pages of a trace: `steps` in order and `loose` calls (id, when) oldest first,
    merged by time; a page ends at STEPS_PER_PAGE steps or LOOSE_CALLS_PER_PAGE calls.
    A call made while a step ran comes after that step."""
    pages: list[tuple[list[AgentStep], list[int]]] = [([], [])]
    s, c = 0, 0
    while s < len(steps) or c < len(loose):
        page_steps, page_loose = pages[-1]
        take_step = c >= len(loose) or (s < len(steps) and steps[s].started_at <= loose[c][1])
        if take_step:
            if len(page_steps) >= STEPS_PER_PAGE:
                pages.append(([], []))
            pages[-1][0].append(steps[s])
            s += 1
        else:
            if len(page_loose) >= LOOSE_CALLS_PER_PAGE:
                pages.append(([], []))
            pages[-1][1].append(loose[c][0])
            c += 1
    shown: list[TracePage] = []
    step_index, loose_index, after = 1, 1, 0
    for number, (page_steps, page_loose) in enumerate(pages, start=1):
        upto = page_steps[-1].number if page_steps else after
        shown.append(
            TracePage(
                steps=page_steps,
                loose_ids=page_loose,
                first_step=step_index if page_steps else 0,
                first_loose=loose_index if page_loose else 0,
                after_step=after,
                upto_step=None if number == len(pages) else upto,
            )
        )
        step_index += len(page_steps)
        loose_index += len(page_loose)
        after = upto
    return shown


def trace_page_summary(page: TracePage, pages: list[TracePage], *, external: bool) -> str:
    """Which of the trace's steps and calls outside a step the page shows."""
    parts = []
    if page.steps:
        total = sum(len(p.steps) for p in pages)
        last = page.first_step + len(page.steps) - 1
        parts.append(f"Steps {page.first_step} to {last} of {total}.")
    if page.loose_ids:
        total = sum(len(p.loose_ids) for p in pages)
        last = page.first_loose + len(page.loose_ids) - 1
        parts.append(_calls_summary(page.first_loose, last, total, external=external))
    return " ".join(parts)


def _calls_summary(first: int, last: int, total: int, *, external: bool) -> str:
    calls = "Tool calls" if external else "Tool calls outside a step"
    return f"{calls} {first} to {last} of {total}."


def live_loose_page(
    ids: QuerySet[ToolCall, int], number: str | None
) -> tuple[Page[int], QuerySet[ToolCall, int]]:
    """A live run's page of the calls outside a step (`ids`, oldest first), the one
    `number` names or else the latest, where new calls arrive; and the page's ids, still a
    query for the caller to read. Pages count from the oldest call, as an ended run's do,
    so an earlier page keeps its calls as the run goes on. Reads only the count."""
    paginator = Paginator(ids, LOOSE_CALLS_PER_PAGE)
    page = paginator.get_page(number or paginator.num_pages)
    first = (page.number - 1) * LOOSE_CALLS_PER_PAGE
    return page, ids[first : first + LOOSE_CALLS_PER_PAGE]


def live_loose_summary(page: Page[int], *, external: bool) -> str:
    """Which of a live run's calls outside a step the page shows ("" when they fit one)."""
    if page.paginator.num_pages < 2:
        return ""
    return _calls_summary(
        page.start_index(), page.end_index(), page.paginator.count, external=external
    )


def live_loose_seen(page: Page[int], finished: int) -> str:
    """What a poll names as shown of a live run's calls outside a step, given how many
    on the page have `finished`: it changes as calls arrive on the page or start a new
    one, so an earlier page, whose opened calls a redraw would close, stays put (its
    summary's total and its pager catch up when a new page begins)."""
    return f"{page.number}.{page.paginator.num_pages}.{page.end_index()}.{finished}"
