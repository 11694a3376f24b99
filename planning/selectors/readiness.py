"""Which tasks are ready, and the next one: readiness, `next`, claims' candidates and
dependency graphs."""

import functools
from collections import defaultdict

from django.db import connections
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from planning.models import (
    ExternalDependency,
    Project,
    SubFeature,
    SubFeatureDependency,
    Task,
    TaskDependency,
)


def _unblocked(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """`tasks` whose dependencies, plan dependencies and parent's dependencies are done."""
    unfinished_dependency = TaskDependency.objects.filter(task=OuterRef("pk")).exclude(
        depends_on__status=Task.Status.DONE
    )
    # A plan-level `depends_on` holds back every task of the plan until the plan it
    # depends on has no unfinished task.
    unfinished_plan = SubFeatureDependency.objects.filter(
        sub_feature=OuterRef("sub_feature")
    ).filter(
        Exists(
            Task.objects.filter(sub_feature=OuterRef("depends_on")).exclude(status=Task.Status.DONE)
        )
    )
    # A plan's dependency on a plan outside the project holds it back until a person
    # marks it satisfied.
    open_external = ExternalDependency.objects.filter(
        sub_feature=OuterRef("sub_feature"), satisfied_at__isnull=True
    )
    # A subtask cannot start before its parent could: the parent is in progress, or
    # its own dependencies are done.
    unfinished_parent_dependency = (
        TaskDependency.objects.filter(task=OuterRef("parent"))
        .exclude(task__status=Task.Status.IN_PROGRESS)
        .exclude(depends_on__status=Task.Status.DONE)
    )
    return (
        tasks.exclude(Exists(unfinished_dependency))
        .exclude(Exists(unfinished_plan))
        .exclude(Exists(open_external))
        .exclude(Exists(unfinished_parent_dependency))
    )


@functools.lru_cache(maxsize=4)
def _unblocked_condition(alias: str, vendor: str) -> tuple[str, tuple[object, ...]]:
    """_unblocked's conditions compiled once per database, for the querysets of `next`:
    compiling their four subqueries cost `next` more than running them did.

    The SQL names the task table itself (`"planning_task"."id"`), so it is only right
    in a query whose own rows are the tasks: never inside a subquery, whose table
    Django renames. (`vendor` is in the key for a database whose settings change.)"""
    compiler = _unblocked(Task.objects.all()).query.get_compiler(alias)
    compiler.pre_sql_setup()
    sql, params = compiler.compile(compiler.where)
    return sql, tuple(params)


def _unblocked_top_level(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """_unblocked(tasks), for a queryset that is run as it is (see _unblocked_condition)."""
    sql, params = _unblocked_condition(tasks.db, connections[tasks.db].vendor)
    return tasks.filter(RawSQL(sql, params, output_field=BooleanField()))


def task_ready_list(*, project: Project) -> QuerySet[Task]:
    """Pending tasks whose dependencies, whose plan's dependencies and (for a subtask)
    whose parent's dependencies are all done, and whose plan's external dependencies
    are all marked satisfied."""
    return tasks_ready_only(Task.objects.filter(project=project))


def tasks_ready_only(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """`tasks` narrowed to the ready ones, as task_ready_list defines them."""
    return _unblocked(tasks.filter(status=Task.Status.PENDING))


STARTED_STATUSES = (Task.Status.IN_PROGRESS, Task.Status.REVIEW)
NEXT_ORDER = ("priority_rank", "next_wave", "sort_key")
# What a task answered by task_next_ready carries, besides its dependency count and keys.
NEXT_RELATIONS = ("feature", "sub_feature", "assigned_agent", "parent")


def task_next_ready(*, project: Project) -> Task | None:
    """The task to work on next, by these rules:

    1. ready tasks (pending, every dependency and plan dependency done) of a sub-feature
       already in progress come first, so started plans get finished;
    2. then, as Task Master's `next` does, the subtasks of tasks in progress (pending or
       in progress, their dependencies done);
    3. then the other tasks that are not subtasks: pending ones, and tasks outside a
       plan marked in progress that no agent holds and that could go on (Task Master
       offers them again);
    4. within each, higher priority, lower wave (tasks of a plan only), fewer
       dependencies, and key in natural order (`2` before `10`).

    `checkpoint:*` tasks are returned like any other; `task.needs_human` tells the caller
    a person has to act. A few index-driven queries, whatever the plan size (five when
    no plan or task has started; one more when the best task's key shares its place in
    natural order with another's, as `T1` and `T01` do).
    """
    ready = _unblocked_top_level(Task.objects.filter(project=project, status=Task.Status.PENDING))
    # What has started, as plain ids read off task_next_ready_idx: few rows, and the
    # stages below then test ids rather than join (and compile) subqueries.
    started = list(
        project.tasks.filter(status__in=STARTED_STATUSES)
        .order_by()
        .values_list("id", "status", "assigned_agent_id", "sub_feature_id")
    )
    started_plans = {plan_id for _, _, _, plan_id in started if plan_id is not None}
    started_plans.update(
        project.sub_features.filter(status=SubFeature.Status.IN_PROGRESS)
        .order_by()
        .values_list("id", flat=True)
    )
    # Tasks outside plans in progress: parents whose subtasks come first, and, when no
    # agent holds them, candidates themselves.
    in_progress = [
        (task_id, agent_id)
        for task_id, task_status, agent_id, plan_id in started
        if task_status == Task.Status.IN_PROGRESS and plan_id is None
    ]
    started_parents = [task_id for task_id, _ in in_progress]
    unheld = [task_id for task_id, agent_id in in_progress if agent_id is None]
    resumable = _unblocked_top_level(Task.objects.filter(pk__in=unheld)) if unheld else None
    stages: list[list[QuerySet[Task]]] = []
    if started_plans:
        stages.append([ready.filter(sub_feature_id__in=sorted(started_plans))])
    if started_parents:
        subtasks = [ready.filter(parent_id__in=started_parents)]
        if resumable is not None:
            subtasks.append(resumable.filter(parent_id__in=started_parents))
        stages.append(subtasks)
    others = [ready.filter(parent__isnull=True)]
    if resumable is not None:
        others.append(resumable.filter(parent__isnull=True))
    stages.append(others)
    for stage in stages:
        task = _best_of(project, stage)
        if task is not None:
            return task
    return None


def _best_of(project: Project, candidate_sets: list[QuerySet[Task]]) -> Task | None:
    # Each set's first task in index order gives the best (priority, wave) group, and
    # its own dependency count (a scalar subquery, run for that one row). When every set
    # leads the group with a task that has no dependencies, no task of the group ranks
    # before the first of those, and the group need not be ranked at all: ranking it
    # checks every task of the group, ready or not (3,000 of 10,000 tasks), which was
    # most of the cost of `next` on a large plan.
    firsts = [
        first
        for candidates in candidate_sets
        if (
            first := candidates.order_by(*NEXT_ORDER)
            .annotate(dependency_count=task_dependency_count())
            .values(
                "pk", "status", "priority_rank", "next_wave", "sort_key", "key", "dependency_count"
            )
            .first()
        )
    ]
    if not firsts:
        return None
    best = min((first["priority_rank"], first["next_wave"]) for first in firsts)
    leaders = [first for first in firsts if (first["priority_rank"], first["next_wave"]) == best]
    if all(leader["dependency_count"] == 0 for leader in leaders):
        leader = min(leaders, key=lambda first: (first["sort_key"], first["key"]))
        # Read with any other task that shares its place in the index order (keys that
        # differ only in leading zeros, `T1` and `T01`, which only the key ranks; a set
        # holds tasks of one status): when there is none, it is the answer.
        same_place = list(
            project.tasks.filter(
                status=leader["status"],
                priority_rank=best[0],
                next_wave=best[1],
                sort_key=leader["sort_key"],
            )
            .select_related(*NEXT_RELATIONS)
            .annotate(dependency_count=task_dependency_count())
            .order_by()[:2]
        )
        if [task.pk for task in same_place] == [leader["pk"]]:
            prefetch_related_objects(
                same_place, Prefetch("depends_on", queryset=Task.objects.only("id", "key"))
            )
            return same_place[0]
    group = {"priority_rank": best[0], "next_wave": best[1]}
    # The best (priority, wave) group alone is ranked for the fewest-dependencies rule,
    # its count a scalar subquery per candidate (grouping the whole joined rows to count
    # them cost SQLite several times as much). (As one statement with the group as
    # scalar subqueries, PostgreSQL plans it several times slower.)
    winners = [
        task
        for candidates in candidate_sets
        if (
            # A scalar subquery, not Count(): no GROUP BY of five tables' columns, which
            # costs more to compile than the query does to run.
            task := candidates.filter(**group)
            .annotate(dependency_count=task_dependency_count())
            .select_related(*NEXT_RELATIONS)
            .prefetch_related(Prefetch("depends_on", queryset=Task.objects.only("id", "key")))
            .order_by("dependency_count", "sort_key", "key")
            .first()
        )
    ]
    return min(winners, key=lambda t: (t.dependency_count, t.sort_key, t.key))


def task_dependency_count() -> Coalesce:
    """A task's number of dependencies, as a scalar subquery rather than Count(), so that
    a queryset annotated with it can still be locked: FOR UPDATE refuses GROUP BY."""
    edges = TaskDependency.objects.filter(task=OuterRef("pk")).order_by().values("task")
    return Coalesce(Subquery(edges.annotate(n=Count("pk")).values("n")), Value(0))


def task_claimable_list(*, project: Project) -> QuerySet[Task]:
    """Ready tasks an agent may take: a subtask only once its parent is in progress."""
    started_parent = Task.objects.filter(pk=OuterRef("parent"), status=Task.Status.IN_PROGRESS)
    return task_ready_list(project=project).filter(
        Q(parent__isnull=True) | Q(Exists(started_parent))
    )


def task_ready_in_next_order(*, project: Project) -> QuerySet[Task]:
    """Every claimable task, in the order task_next_ready would pick them one after
    another: tasks of started plans first, then subtasks of tasks in progress, then
    priority, wave, fewer dependencies, key. A full sort, for taking the first few;
    annotated with `dependency_count`."""
    started_plans = SubFeature.objects.filter(project=project).filter(
        Q(status=SubFeature.Status.IN_PROGRESS) | Q(tasks__status__in=STARTED_STATUSES)
    )
    return (
        task_claimable_list(project=project)
        .annotate(
            outside_started_plan=Case(
                When(sub_feature_id__in=started_plans.values("id"), then=Value(0)),
                When(parent__isnull=False, then=Value(1)),
                default=Value(2),
            ),
            dependency_count=task_dependency_count(),
        )
        .order_by(
            "outside_started_plan",
            "priority_rank",
            "next_wave",
            "dependency_count",
            "sort_key",
            "key",
        )
    )


def task_dependency_graph(*, project: Project) -> dict[int, set[int]]:
    """Task id -> ids of the tasks it depends on, for the whole project (one query)."""
    graph: dict[int, set[int]] = defaultdict(set)
    for task_id, depends_on_id in TaskDependency.objects.filter(task__project=project).values_list(
        "task_id", "depends_on_id"
    ):
        graph[task_id].add(depends_on_id)
    return graph


def sub_feature_dependency_graph(*, project: Project) -> dict[int, set[int]]:
    graph: dict[int, set[int]] = defaultdict(set)
    for sub_id, depends_on_id in SubFeatureDependency.objects.filter(
        sub_feature__project=project
    ).values_list("sub_feature_id", "depends_on_id"):
        graph[sub_id].add(depends_on_id)
    return graph
