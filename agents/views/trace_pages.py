"""An ended run's trace in pages: its steps, and the tool calls reported outside a step,
in the order they happened."""

from dataclasses import dataclass
from datetime import datetime

from agents.models import AgentStep

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
