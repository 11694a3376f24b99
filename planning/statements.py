"""Planning's hand-written SQL for claims: the claim of the next ready task, the roll-up
it makes and the locks of task files (the plan pages' statements are in
planning/page_statements.py).

Every claim an agent makes runs the claim, and compiling its querysets costs more than
running them, so the statements are compiled once per project and process and run through
`core.db.prepared_cursor` (see the README's Architecture section on raw SQL). Table and
column names come from the models' `_meta`. They change only planning's own tables;
the count of a task's earlier runs reads the runs table through `Task.runs`, the reverse
side of the run's foreign key, so planning names no model of another app.
"""

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    Exists,
    F,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import Expression, RawSQL

from core.db import column_list
from planning.models import (
    Feature,
    Project,
    SubFeature,
    Task,
    TaskDependency,
    WorkStatus,
)
from planning.selectors import (
    STARTED_STATUSES,
    task_claimable_list,
    task_dependency_count,
    task_ready_in_next_order,
)

if TYPE_CHECKING:
    from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations

# Stands for the claiming agent's id in the compiled statements; replaced by a
# parameter. No agent has a negative id.
CLAIMING_AGENT = -7_340_117

# The task's own columns, as a claim reads them back.
CLAIMED_TASK_FIELDS = tuple(Task._meta.concrete_fields)

# What a claim reads of the task's sub-feature (its plan): what the roll-up and the
# claim's answer need, in one subquery rather than one per column. In the model's
# order, as Model.from_db takes them.
CLAIMED_PLAN_FIELDS = tuple(
    field
    for field in SubFeature._meta.concrete_fields
    if field.name in {"key", "status", "name", "objective", "extra", "must_haves"}
)


def _dependency_keys(vendor: str, task: str) -> str:
    """SQL for the keys of the tasks the task row `task` (its quoted table) depends on,
    as a JSON array in the tasks' order (Task.Meta.ordering), as
    `task.depends_on.values_list("key")` lists them."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name

    def column(model: type[Model], name: str) -> str:
        (field,) = (field for field in model._meta.concrete_fields if field.name == name)
        return quote(field.column)

    order = ", ".join(
        f"d.{column(Task, name.lstrip('-'))}" + (" DESC" if name.startswith("-") else "")
        for name in Task._meta.ordering or ()
        if isinstance(name, str)
    )
    rows = (
        f"FROM {quote(TaskDependency._meta.db_table)} AS e "
        f"INNER JOIN {quote(Task._meta.db_table)} AS d "
        f"ON d.{column(Task, 'id')} = e.{column(TaskDependency, 'depends_on')} "
        f"WHERE e.{column(TaskDependency, 'task')} = {task}.{column(Task, 'id')}"
    )
    key = f"d.{column(Task, 'key')}"
    if vendor == "postgresql":
        return f"SELECT COALESCE(jsonb_agg({key} ORDER BY {order}), '[]') {rows}"
    # SQLite orders no aggregate's input: the rows are ordered first.
    return f"SELECT json_group_array(k) FROM (SELECT {key} AS k {rows} ORDER BY {order})"


def _plan_as_json(vendor: str) -> str:
    """SQL for CLAIMED_PLAN_FIELDS of a sub-feature row as one JSON array, its JSON
    columns nested as JSON."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    if vendor == "postgresql":
        return f"jsonb_build_array({column_list(CLAIMED_PLAN_FIELDS)})"
    columns = [
        f"json({quote(field.column)})"
        if field.get_internal_type() == "JSONField"
        else quote(field.column)
        for field in CLAIMED_PLAN_FIELDS
    ]
    return f"json_array({', '.join(columns)})"


def _normalised_path(vendor: str, value: str) -> str:
    """SQL for a task's file path as dispatch compares them (agents.services.orchestrator):
    trimmed, without a leading `./` or trailing slashes."""
    if vendor == "postgresql":
        return f"rtrim(regexp_replace(btrim({value}), '^\\./', ''), '/')"
    trimmed = f"trim({value})"
    return (
        f"rtrim(CASE WHEN substr({trimmed}, 1, 2) = './' THEN substr({trimmed}, 3) "
        f"ELSE {trimmed} END, '/')"
    )


@functools.lru_cache(maxsize=16)
def files_free_sql(vendor: str, files: str, project_id: str) -> str:
    """A condition on a task row, given as its compiled `files` and `project_id` columns:
    no task of its project in progress names one of its files. Two tasks whose files
    overlap are never worked on at once; claims check it in SQL, dispatch in Python (the
    same normalisation). Committed work only: task_files_reserve closes the window
    between two claims in flight."""
    table = connections[DEFAULT_DB_ALIAS].ops.quote_name(Task._meta.db_table)
    in_progress = f"'{Task.Status.IN_PROGRESS.value}'"
    if vendor == "postgresql":

        def paths(column: str, alias: str) -> str:
            array = f"CASE WHEN jsonb_typeof({column}) = 'array' THEN {column} ELSE '[]' END"
            return f"jsonb_array_elements_text({array}) AS {alias}(path)"

        held, mine, empty = "held.path", "mine.path", "'[]'::jsonb"
    else:

        def paths(column: str, alias: str) -> str:
            array = f"CASE WHEN json_type({column}) = 'array' THEN {column} ELSE '[]' END"
            return f"json_each({array}) AS {alias}"

        held, mine, empty = "held.value", "mine.value", "'[]'"
    held_path = _normalised_path(vendor, held)
    busy_files = 'busy."files"'
    return (
        f"({files} = {empty} OR NOT EXISTS (SELECT 1 FROM {table} AS busy "
        f"CROSS JOIN {paths(busy_files, 'held')} "
        f'WHERE busy."project_id" = {project_id} '
        f"AND busy.\"status\" = {in_progress} AND {held_path} <> '' "
        f"AND {held_path} IN (SELECT {_normalised_path(vendor, mine)} "
        f"FROM {paths(files, 'mine')})))"
    )


class FilesFree(Expression):
    """files_free_sql as a condition of a task queryset.

    Its columns are the queryset's own, under whatever alias the task table has where
    the condition ends up: inside a subquery of tasks in another query of tasks (the
    claim's best group), Django renames the table (`W0`, `U0`), and a condition naming
    the table outright would be about the enclosing query's row instead. That would
    both change its meaning and make PostgreSQL run the subquery once per outer row."""

    conditional = True

    def __init__(self) -> None:
        super().__init__(output_field=BooleanField())
        self.columns: list[Any] = [F("files"), F("project_id")]

    def get_source_expressions(self) -> list[Any]:
        return self.columns

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.columns = list(exprs)

    def as_sql(
        self, compiler: Any, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        files, files_params = compiler.compile(self.columns[0])
        project_id, project_params = compiler.compile(self.columns[1])
        if files_params or project_params:
            raise TypeError("A task's files and project are plain columns.")
        return files_free_sql(connection.vendor, files, project_id), ()


# The claim's common table expression on PostgreSQL: the best (priority, wave) group of
# ready tasks, computed once for every candidate that reads it (see claim_statements).
BEST_GROUP = "claim_best_group"


def _ready(project: Project) -> QuerySet[Task]:
    """Ready tasks no agent is assigned to, that a claim may take."""
    return (
        task_claimable_list(project=project)
        .exclude(type__startswith="checkpoint:")
        .filter(assigned_agent__isnull=True)
        .filter(FilesFree())
    )


def _best_first(project: Project) -> QuerySet[Task]:
    """Ready tasks, best first: the first one's priority and wave are the best group's."""
    return _ready(project).order_by("priority_rank", "next_wave", "sort_key")


def _claim_candidates(project: Project, vendor: str) -> list[list[QuerySet[Task]]]:
    """Ready tasks an agent may take, as queries tried in turn: each names at most one
    task, and the first that names one (locked, skipping tasks other claims have
    locked) names the task to claim. They come in two stages, one statement each.

    A task assigned to an agent is that agent's, as in dispatch: it goes to no other
    agent, and to its own before any other task. Together the queries follow the rules
    of task_next_ready: tasks of plans already started first, then priority, wave,
    fewer dependencies, key. `checkpoint:*` tasks are left out: they wait for a person.
    The cheap ones come first, so that a claim usually reads a few index entries
    instead of ranking every ready task:

    1. the best task assigned to the claiming agent (read off task_assigned_pending_idx);
    2. the best task of a started plan (a sort of those plans' ready tasks only), then
       the best subtask of a task in progress;
    3. in the best (priority, wave) group, the first task without dependencies in key
       order, read off task_next_ready_idx: no task of the group can come before it;
    then, only when those find nothing,
    4. in that group, the best task by dependency count, then key;
    5. every ready task in the full order, for when the best group is all locked.

    Every one leaves out tasks whose files a task in progress names (files_free_sql).
    The claiming agent's id is `CLAIMING_AGENT` here (see claim_statements). On
    PostgreSQL the best group's priority and wave are read from BEST_GROUP, which
    claim_statements puts before the statement: its plan then holds the ready tasks'
    conditions once rather than three times, and PostgreSQL sets up every subquery of
    a statement it runs, whichever it needs.
    """
    in_order = (
        task_ready_in_next_order(project=project)
        .exclude(type__startswith="checkpoint:")
        .filter(FilesFree())
    )
    own = in_order.filter(assigned_agent_id=CLAIMING_AGENT)
    ready = _ready(project)
    started_plans = SubFeature.objects.filter(project=project).filter(
        Q(status=SubFeature.Status.IN_PROGRESS) | Q(tasks__status__in=STARTED_STATUSES)
    )
    # Pending subtasks of tasks in progress, read off task_pending_subtask_idx: a few
    # index entries, where starting from the tasks in progress reads every one of them.
    subtasks_of_started = Task.objects.filter(
        project=project,
        status=Task.Status.PENDING,
        parent__isnull=False,
        parent__status=Task.Status.IN_PROGRESS,
    )
    best_priority: RawSQL | Subquery
    best_wave: RawSQL | Subquery
    if vendor == "postgresql":
        rank = Task._meta.get_field("priority_rank").output_field
        wave = Task._meta.get_field("next_wave").output_field
        best_priority = RawSQL(f'SELECT "priority_rank" FROM {BEST_GROUP}', (), rank)
        best_wave = RawSQL(f'SELECT "next_wave" FROM {BEST_GROUP}', (), wave)
    else:
        best = _best_first(project)
        best_priority = Subquery(best.values("priority_rank")[:1])
        best_wave = Subquery(best.values("next_wave")[:1])
    best_group = ready.filter(priority_rank=best_priority, next_wave=best_wave)
    without_dependencies = ~Exists(TaskDependency.objects.filter(task=OuterRef("pk")))
    first = [
        own,
        # Exists() first: without started plans, PostgreSQL skips the rest outright.
        ready.filter(Exists(started_plans), sub_feature_id__in=started_plans.values("id"))
        .annotate(dependency_count=task_dependency_count())
        .order_by("priority_rank", "next_wave", "dependency_count", "sort_key"),
        # Subtasks of tasks in progress, as Task Master's `next` offers them first.
        ready.filter(Exists(subtasks_of_started), parent__isnull=False)
        .annotate(dependency_count=task_dependency_count())
        .order_by("priority_rank", "next_wave", "dependency_count", "sort_key"),
        # The wave as a range, not an equality, and ordered by: only task_next_ready_idx
        # gives that order, so PostgreSQL walks it even before it has statistics (with
        # the wave fixed, the index on (project, key) looks as good, and is not).
        ready.filter(without_dependencies, priority_rank=best_priority)
        .filter(next_wave__gte=best_wave, next_wave__lte=best_wave)
        .order_by("next_wave", "sort_key"),
    ]
    then = [
        best_group.annotate(dependency_count=task_dependency_count()).order_by(
            "dependency_count", "sort_key"
        ),
        in_order.filter(assigned_agent__isnull=True),
    ]
    return [first, then]


@functools.lru_cache(maxsize=256)
def claim_statements(
    project_id: int, alias: str = DEFAULT_DB_ALIAS
) -> list[tuple[str, tuple[Any, ...]]]:
    """The SQL that claims the best claimable task of a project for an agent, one
    statement per stage of _claim_candidates, with their parameters after the first
    four (status, agent id, now, now); `CLAIMING_AGENT` among them stands for the
    claiming agent's id.

    Each is one UPDATE: it sets the task in progress for the agent and returns the
    task's columns (CLAIMED_TASK_FIELDS), how many runs it had before, the keys of
    the tasks it depends on (a JSON array), the key and status of its feature (which
    the claim's roll-up reads) and its sub-feature's CLAIMED_PLAN_FIELDS as a JSON
    array (the roll-up reads its status, the claim's answer the rest); or no row when
    its candidates find none. The candidates are scalar subqueries in a COALESCE, so each
    runs only if those before it found nothing. (PostgreSQL still sets up every
    subquery of a statement it runs, which is why the rarer fallbacks have a statement
    of their own.) They depend only on the project, so they are compiled once per
    project and process (inside a transaction: Django refuses to compile FOR UPDATE
    outside one).
    """
    ops, vendor = connections[alias].ops, connections[alias].vendor
    task_table = Task._meta.db_table
    task = ops.quote_name(task_table)
    runs = ops.quote_name(Task.runs.field.model._meta.db_table)
    features = ops.quote_name(Feature._meta.db_table)
    sub_features = ops.quote_name(SubFeature._meta.db_table)
    columns = column_list(CLAIMED_TASK_FIELDS, task_table)
    statements = []
    project = Project(pk=project_id)
    best_group = ""
    if vendor == "postgresql":
        best = _best_first(project).values("priority_rank", "next_wave")[:1]
        best_sql, best_params = best.query.get_compiler(alias).as_sql()
        best_sql = _with_literals(ops, best_sql, best_params)
        best_group = f"WITH {BEST_GROUP} AS ({best_sql}) "
    for stage in _claim_candidates(project, vendor):
        candidates, params = [], []
        for queryset in stage:
            locked = queryset.select_for_update(skip_locked=True, of=("self",)).values("pk")[:1]
            sql, candidate_params = locked.query.get_compiler(alias).as_sql()
            if vendor == "postgresql":
                sql = _with_literals(ops, sql, candidate_params)
                sentinel = _with_literals(ops, "%s", (CLAIMING_AGENT,))
                candidate_params = (CLAIMING_AGENT,) * sql.count(sentinel)
                sql = sql.replace(sentinel, "%s")
            candidates.append(f"({sql})")
            params.extend(candidate_params)
        with_best_group = best_group if BEST_GROUP in " ".join(candidates) else ""
        sql = (
            f'{with_best_group}UPDATE {task} SET "status" = %s, "assigned_agent_id" = %s, '
            '"started_at" = COALESCE("started_at", %s), "updated_at" = %s '
            f'WHERE "id" = COALESCE({", ".join(candidates)}) '
            # The lock already guarantees it; never re-assign a task all the same.
            f"""AND "status" = '{Task.Status.PENDING.value}' """
            f"RETURNING {columns}, "
            f'(SELECT COUNT(*) FROM {runs} WHERE {runs}."task_id" = {task}."id"), '
            f"({_dependency_keys(vendor, task)}), "
            f'(SELECT "key" FROM {features} WHERE {features}."id" = {task}."feature_id"), '
            f'(SELECT "status" FROM {features} WHERE {features}."id" = {task}."feature_id"), '
            f"(SELECT {_plan_as_json(vendor)} FROM {sub_features} "
            f'WHERE {sub_features}."id" = {task}."sub_feature_id")'
        )
        statements.append((sql, tuple(params)))
    if CLAIMING_AGENT not in statements[0][1]:
        # The own-task candidate would match no agent: fail loudly, not silently.
        raise RuntimeError("The claiming agent's placeholder is missing from the claim.")
    return statements


def _with_literals(ops: Any, sql: str, params: Sequence[Any]) -> str:
    """PostgreSQL: the compiled SQL with its parameters as literals, `%` escaped. The
    claim's constants go in as literals: PostgreSQL plans with the actual values, and a
    claim sends a few parameters rather than dozens."""
    pg_ops = cast("PostgresOperations", ops)
    composed: str = pg_ops.compose_sql(sql, params)
    return composed.replace("%", "%%")


@functools.lru_cache(maxsize=8)
def container_start(table: str, vendor: str) -> str:
    """Set a feature or sub-feature of `table` in progress, as a claim starts one of its
    tasks; parameters: now, the row's id. Changes no row another transaction holds
    (PostgreSQL): the claim then looks again once it has committed
    (planning.services.rollup). On SQLite writers take turns anyway."""
    quoted = connections[DEFAULT_DB_ALIAS].ops.quote_name(table)
    in_progress = f"'{WorkStatus.IN_PROGRESS.value}'"
    row = f'"id" = %s AND "status" <> {in_progress}'
    if vendor == "postgresql":
        # The lock an UPDATE of a status takes; it lets tasks be inserted under the row.
        row = f'"id" = (SELECT "id" FROM {quoted} WHERE {row} FOR NO KEY UPDATE SKIP LOCKED)'
    return f'UPDATE {quoted} SET "status" = {in_progress}, "updated_at" = %s WHERE {row}'


# Advisory locks of task files live in a key space of their own (the first argument of
# PostgreSQL's two-int form), apart from any other advisory lock.
FILE_LOCK_SPACE = 0x43_42_46  # "CBF"

FILE_LOCK = "SELECT pg_advisory_xact_lock(%s, %s)"
