"""What the board shows: a project's tasks in columns by status, filtered, a page per
column. One query counts every column and one reads each column's page, however many
tasks the project has.

A task in progress whose current coding attempt is running its checks shows under
Verifying rather than In progress: the run's stage says so (agents' runs own it;
outline.task_verifying() reads it)."""

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from planning import outline
from planning.analytics_pages import Slice
from planning.filters import TaskFilterSet
from planning.models import ExternalDependency, Project, Task, TaskDependency

CARDS_PER_PAGE = 20
# The most pages of a column a live refresh shows again (`shown`): 500 cards.
MAX_SHOWN_PAGES = 25


@dataclass(frozen=True)
class ColumnSpec:
    slug: str
    label: str
    # The first status is the one a card dropped on the column gets.
    statuses: tuple[str, ...]
    # Whether its tasks are the ones being verified (True), those not (False), or either.
    verifying: bool | None = None

    @property
    def status(self) -> str:
        return self.statuses[0]

    @property
    def droppable(self) -> bool:
        """Whether a card may be moved here: a task is verified by its run's checks,
        never by a person's drag."""
        return self.verifying is not True

    @property
    def condition(self) -> Q:
        """Which of the board's tasks (annotated by board_tasks()) the column holds."""
        condition = Q(status__in=self.statuses)
        if self.verifying is not None:
            condition &= Q(verifying=self.verifying)
        return condition


COLUMNS = (
    ColumnSpec("todo", "To do", (Task.Status.PENDING, Task.Status.DEFERRED)),
    ColumnSpec("in_progress", "In progress", (Task.Status.IN_PROGRESS,), verifying=False),
    ColumnSpec("verifying", "Verifying", (Task.Status.IN_PROGRESS,), verifying=True),
    ColumnSpec("review", "In review", (Task.Status.REVIEW,)),
    ColumnSpec("blocked", "Blocked", (Task.Status.BLOCKED, Task.Status.FAILED)),
    ColumnSpec("done", "Done", (Task.Status.DONE, Task.Status.CANCELLED)),
)
COLUMN_BY_SLUG = {column.slug: column for column in COLUMNS}
# The statuses a card may be moved to, as the "Move to" control offers them.
MOVE_CHOICES = [(spec.status, spec.label) for spec in COLUMNS if spec.droppable]


@dataclass
class Column:
    spec: ColumnSpec
    tasks: list[Task]
    page: Slice


class BoardFilterSet(TaskFilterSet):
    """The API's task filters, less those the columns already stand for."""

    class Meta(TaskFilterSet.Meta):
        fields = ["priority", "feature", "wave"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("status", "type", "size", "sub_feature", "ready"):
            self.filters.pop(name, None)


def board_tasks(project: Project, params: Any) -> tuple[BoardFilterSet, QuerySet[Task]]:
    """The project's tasks narrowed by the board's filters (`params`, the query string),
    each with `verifying`."""
    filterset = BoardFilterSet(params, queryset=Task.objects.filter(project=project))
    tasks = filterset.qs if filterset.is_valid() else Task.objects.none()
    return filterset, tasks.annotate(verifying=outline.task_verifying())


def shown_pages(raw: str) -> dict[str, int]:
    """How many pages each column shows, from a live refresh's `shown` ("todo:3,done:2":
    the columns opened with "Show more"); unknown columns and nonsense are left out, and
    no column shows more than MAX_SHOWN_PAGES."""
    shown = {}
    for part in raw.split(",")[: len(COLUMNS)]:
        slug, _, pages = part.partition(":")
        if slug in COLUMN_BY_SLUG and pages.isdigit() and int(pages) > 1:
            shown[slug] = min(int(pages), MAX_SHOWN_PAGES)
    return shown


def board_columns(
    tasks: QuerySet[Task], pages: dict[str, str | None], shown: dict[str, int] | None = None
) -> list[Column]:
    """Every column with its page (`pages` maps a column's slug to its page number), or
    with its first `shown[slug]` pages at once, as a column opened with "Show more" shows
    them: a live refresh keeps what the reader opened (still one query a column)."""
    # Named apart from the tasks' own annotations (a column is called "verifying" too).
    counts = tasks.order_by().aggregate(
        **{f"{column.slug}_total": Count("pk", filter=column.condition) for column in COLUMNS}
    )
    shown = shown or {}
    return [
        column_page(
            tasks,
            spec,
            str(shown[spec.slug]) if spec.slug in shown else pages.get(spec.slug),
            total=counts[f"{spec.slug}_total"],
            from_first=spec.slug in shown,
        )
        for spec in COLUMNS
    ]


CARD_ORDER = ("priority_rank", "position", "key")
# What a card reads of its task (and of the task's agents): a card query that loads
# whole rows costs more to build and send than to run.
CARD_FIELDS = (
    "project_id",
    "sub_feature_id",
    "key",
    "name",
    "status",
    "priority",
    "priority_rank",
    "position",
    "branch_name",
    "qa_iterations",
    "assigned_agent__name",
    "coded_by__name",
)


def column_page(
    tasks: QuerySet[Task],
    spec: ColumnSpec,
    page: str | None,
    *,
    total: int,
    from_first: bool = False,
) -> Column:
    """One page of one column's cards, highest priority first (one query); with
    `from_first`, every card up to the end of that page (a column the live refresh keeps
    expanded).

    The page's ids are picked in a subquery that reads only the columns it sorts on, and
    only those rows are joined to their agents, feature and sub-feature and given their
    markers: sorting the column's whole rows, joined, to keep 20 of them made the query
    grow with the column (thousands of wide rows sorted for a page)."""
    slice_ = Slice.of(page, per_page=CARDS_PER_PAGE, total=total)
    start = 0 if from_first else slice_.start
    page_ids = tasks.filter(spec.condition).order_by(*CARD_ORDER).values("pk")
    rows = card_rows(Task.objects.filter(pk__in=page_ids[start : slice_.end]))
    return Column(spec=spec, tasks=list(rows.order_by(*CARD_ORDER)), page=slice_)


def card_rows(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """`tasks` with what a card shows and nothing else: the agent's and the coder's
    names, the number of dependencies, `verifying` and the markers of with_markers()."""
    edges = TaskDependency.objects.filter(task=OuterRef("pk")).order_by().values("task")
    dependency_count = Coalesce(Subquery(edges.annotate(n=Count("pk")).values("n")), Value(0))
    return with_markers(
        tasks.select_related("assigned_agent", "coded_by")
        .only(*CARD_FIELDS)
        .annotate(verifying=outline.task_verifying(), dependency_count=dependency_count)
    )


def with_markers(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """`tasks` with `waiting`: whether a dependency is not done yet, and
    `waiting_outside`: whether its plan depends on a plan outside the project that no
    one has marked satisfied."""
    unfinished = TaskDependency.objects.filter(task=OuterRef("pk")).exclude(
        depends_on__status=Task.Status.DONE
    )
    outside = ExternalDependency.objects.filter(
        sub_feature=OuterRef("sub_feature"), satisfied_at__isnull=True
    )
    return tasks.annotate(waiting=Exists(unfinished), waiting_outside=Exists(outside))


def column_total(tasks: QuerySet[Task], spec: ColumnSpec) -> int:
    return tasks.filter(spec.condition).count()


def agent_choices(project: Project) -> list[tuple[int, str]]:
    """The project's agents, for the agent filter."""
    # Planning does not import the agents app (its arrows point this way): the model is
    # the one Task.assigned_agent names.
    agent_model = apps.get_model("agents", "Agent")
    agents = agent_model._default_manager.filter(project=project).order_by("name")
    return list(agents.values_list("pk", "name"))


def column_of(status: str) -> ColumnSpec:
    """The column a task with `status` moves to (never Verifying: only checks put it there)."""
    return next(column for column in COLUMNS if status in column.statuses and column.droppable)
