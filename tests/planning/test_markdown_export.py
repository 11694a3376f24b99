"""The Markdown rendering of a plan, as versions store it and the export gives it."""

from planning.exporters.markdown import render_markdown
from planning.importers.document import PlanDocument, TaskSpec


def _plan(depends_on: list[str]) -> PlanDocument:
    tasks = [TaskSpec(key=key, name=f"Task {key}") for key in ("2", "10", "1")]
    tasks.append(TaskSpec(key="11", name="Last", depends_on=depends_on))
    return PlanDocument(tasks=tasks)


def test_dependencies_render_in_key_order_whatever_order_the_plan_lists_them():
    # A plan read back from its rows lists a task's dependencies in no set order; the
    # same plan must render the same text, or two equal versions would read differently.
    rendered = {render_markdown(_plan(order)) for order in (["10", "2", "1"], ["1", "10", "2"])}

    [text] = rendered
    assert "  - depends on: 1, 2, 10" in text
