"""Read-side queries for planning. Every selector returns rows already joined for its caller."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.db.models import (
    Case,
    Count,
    Exists,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce, Left, Lower
from django.http import Http404
from django.shortcuts import get_object_or_404

from planning import shapes
from planning.analytics import FeatureProgress, TaskRow
from planning.importers.document import (
    FeatureSpec,
    PlanDocument,
    RequirementSpec,
    SubFeatureSpec,
    TaskSpec,
)
from planning.models import (
    ConversationMessage,
    ConversationSession,
    DevPlan,
    DevPlanVersion,
    ExternalDependency,
    Feature,
    ImportJob,
    Project,
    ProjectMembership,
    Requirement,
    SubFeature,
    SubFeatureDependency,
    Task,
    TaskDependency,
)
from planning.outline import plan_stamp
from planning.plan_graph import plan_graph

CHAT_PREVIEW_CHARS = 120  # of a chat's opening question, on list pages


def project_list_for_user(*, user: User | AnonymousUser, counts: bool = True) -> QuerySet[Project]:
    """Projects the user is a member of, with task progress counts (`task_count`,
    `done_count`) unless `counts` is False: the annotation joins every task of every
    project listed before a page is cut, so a page of projects gets its counts from
    with_task_counts() instead."""
    if not user.is_authenticated:
        return Project.objects.none()
    projects = Project.objects.filter(memberships__user=user).select_related("owner")
    if counts:
        # One membership row per project, so the join with tasks counts each task once
        # (no DISTINCT, which would sort every task of every project).
        projects = projects.annotate(
            task_count=Count("tasks"),
            done_count=Count("tasks", filter=Q(tasks__status=Task.Status.DONE)),
        )
    return projects.order_by(Lower("name"), "id")


def with_task_counts(projects: Sequence[Project]) -> None:
    """Give each of `projects` its `task_count` and `done_count`: one aggregate grouped by
    project over those projects' tasks alone, read off the tasks' (project, status)
    index."""
    counts = {
        row["project_id"]: row
        for row in Task.objects.filter(project__in=[project.pk for project in projects])
        .order_by()
        .values("project_id")
        .annotate(total=Count("*"), done=Count("status", filter=Q(status=Task.Status.DONE)))
    }
    for project in projects:
        row = counts.get(project.pk, {})
        project.task_count = row.get("total", 0)  # type: ignore[attr-defined]
        project.done_count = row.get("done", 0)  # type: ignore[attr-defined]


def project_for_user(
    *, user: User | AnonymousUser, slug: str, write: bool = False
) -> tuple[Project, ProjectMembership]:
    """The project with `slug` and the user's membership of it.

    Raises Http404 when the user is not a member (existence is not revealed), and
    PermissionDenied when `write` is asked of a viewer.
    """
    if not user.is_authenticated:
        raise Http404("No such project.")
    membership = (
        ProjectMembership.objects.select_related("project", "project__owner")
        .filter(user=user, project__slug=slug)
        .first()
    )
    if membership is None:
        raise Http404("No such project.")
    if write and not membership.can_write:
        raise PermissionDenied("Viewers cannot change this project.")
    return membership.project, membership


def membership_list(*, project: Project) -> QuerySet[ProjectMembership]:
    return project.memberships.select_related("user").order_by("user__username")


def user_to_add(*, username: str) -> User | None:
    """The active user called `username` (case-insensitively), or None."""
    return User.objects.filter(username__iexact=username.strip(), is_active=True).first()


# How every list of requirements is ordered: as editors arranged them (the Requirements
# tab's drag and arrows), then by code for those never moved.
REQUIREMENT_ORDER = ("position", "code", "id")


def requirement_order(*, project: Project) -> QuerySet[Requirement]:
    """The project's requirements in the order every list of them shows."""
    return project.requirements.order_by(*REQUIREMENT_ORDER)


def requirement_list(*, project: Project) -> QuerySet[Requirement]:
    return requirement_order(project=project).prefetch_related(
        Prefetch("features", queryset=Feature.objects.only("id", "key"))
    )


def feature_list(*, project: Project) -> QuerySet[Feature]:
    return project.features.annotate(
        task_count=Count("tasks", distinct=True),
        done_count=Count("tasks", filter=Q(tasks__status=Task.Status.DONE), distinct=True),
    ).order_by("position", "key")


def sub_feature_list(*, project: Project) -> QuerySet[SubFeature]:
    return (
        project.sub_features.select_related("feature")
        .prefetch_related(
            Prefetch("depends_on", queryset=SubFeature.objects.only("id", "key")),
            Prefetch("requirements", queryset=Requirement.objects.only("id", "code")),
        )
        .order_by("feature__position", "feature__key", "position", "key")
    )


def task_list(*, project: Project) -> QuerySet[Task]:
    return (
        project.tasks.select_related("feature", "sub_feature", "assigned_agent", "parent")
        .prefetch_related(Prefetch("depends_on", queryset=Task.objects.only("id", "key")))
        .order_by("feature__position", "feature__key", "sub_feature__key", "position", "sort_key")
    )


def external_dependency_list(*, project: Project) -> QuerySet[ExternalDependency]:
    """The project's dependencies on plans outside it, by plan and reference."""
    return (
        ExternalDependency.objects.filter(sub_feature__project=project)
        .select_related("sub_feature", "satisfied_by")
        .order_by("sub_feature__key", "reference")
    )


def task_dependency_list(*, project: Project) -> QuerySet[TaskDependency]:
    return (
        TaskDependency.objects.filter(task__project=project)
        .select_related("task", "depends_on")
        .order_by("task__sort_key", "depends_on__sort_key")
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
    ready = task_ready_list(project=project)
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
    resumable = _unblocked(Task.objects.filter(pk__in=unheld)) if unheld else None
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


PLAN_TASK_FIELDS = (
    "key",
    "name",
    "feature_id",
    "sub_feature_id",
    "description",
    "files",
    "verify",
    "done_criteria",
    "type",
    "size",
    "priority",
    "complexity",
    "wave",
    "position",
    "estimated_minutes",
    "max_iterations",
    "extra",
    "source_identity",
    "status",
)


def plan_document(*, project: Project) -> PlanDocument:
    """The project's working plan in the format-neutral shape versions store (six queries)."""
    features = {f.id: f for f in project.features.all()}
    sub_features = {s.id: s for s in project.sub_features.all()}
    requirement_features: dict[int, list[str]] = defaultdict(list)
    for req_id, feature_id in Requirement.features.through.objects.filter(
        requirement__project=project
    ).values_list("requirement_id", "feature_id"):
        requirement_features[req_id].append(features[feature_id].key)
    requirements = list(requirement_order(project=project))
    codes = {r.id: r.code for r in requirements}
    sub_requirements: dict[int, list[str]] = defaultdict(list)
    for sub_id, req_id in SubFeature.requirements.through.objects.filter(
        subfeature__project=project
    ).values_list("subfeature_id", "requirement_id"):
        if codes.get(req_id):
            sub_requirements[sub_id].append(codes[req_id])
    sub_deps: dict[int, list[str]] = defaultdict(list)
    for sub_id, dep_id in SubFeatureDependency.objects.filter(
        sub_feature__project=project
    ).values_list("sub_feature_id", "depends_on_id"):
        sub_deps[sub_id].append(sub_features[dep_id].key)
    # Plain rows, not model instances: building 20,000 of those was most of a version's time.
    tasks = [
        SimpleNamespace(**row) for row in project.tasks.values("id", "parent_id", *PLAN_TASK_FIELDS)
    ]
    task_keys = {t.id: t.key for t in tasks}
    task_deps: dict[int, list[str]] = defaultdict(list)
    for task_id, dep_id in TaskDependency.objects.filter(task__project=project).values_list(
        "task_id", "depends_on_id"
    ):
        task_deps[task_id].append(task_keys[dep_id])

    return PlanDocument(
        requirements=[
            RequirementSpec(
                code=r.code,
                description=r.description,
                category=r.category,
                priority=r.priority,
                source=r.source,
                validated=r.validated,
                features=requirement_features[r.id],
                position=r.position,
            )
            for r in requirements
        ],
        features=[
            FeatureSpec(
                key=f.key,
                name=f.name,
                description=f.description,
                priority=f.priority,
                position=f.position,
                identity=f.source_identity,
            )
            for f in features.values()
        ],
        sub_features=[
            SubFeatureSpec(
                key=s.key,
                feature=features[s.feature_id].key,
                name=s.name,
                objective=s.objective,
                wave=s.wave,
                autonomous=s.autonomous,
                files_modified=s.shaped_files_modified(),
                must_haves=s.shaped_must_haves(),
                extra=s.shaped_extra(),
                position=s.position,
                identity=s.source_identity,
                depends_on=sub_deps[s.id],
                requirements=sub_requirements[s.id],
            )
            for s in sub_features.values()
        ],
        tasks=[
            TaskSpec(
                key=t.key,
                name=t.name,
                feature=features[t.feature_id].key if t.feature_id else None,
                sub_feature=sub_features[t.sub_feature_id].key if t.sub_feature_id else None,
                description=t.description,
                files=shapes.TASK_FILES.tolerant(t.files, default=list, where=f"task {t.key}"),
                verify=t.verify,
                done_criteria=t.done_criteria,
                type=t.type,
                size=t.size,
                priority=t.priority,
                complexity=t.complexity,
                wave=t.wave,
                position=t.position,
                estimated_minutes=t.estimated_minutes,
                max_iterations=t.max_iterations,
                extra=shapes.TASK_EXTRA.tolerant(t.extra, default=dict, where=f"task {t.key}"),
                depends_on=task_deps[t.id],
                parent=task_keys[t.parent_id] if t.parent_id else None,
                identity=t.source_identity,
                status=t.status,
            )
            for t in tasks
        ],
        source=project.slug,
    )


def version_list(*, project: Project) -> QuerySet[DevPlanVersion]:
    """The project's plan versions, newest first, without their (large) snapshot payloads."""
    return (
        DevPlanVersion.objects.filter(plan__project=project)
        .select_related("plan", "created_by")
        .defer("snapshot", "markdown")
        .order_by("plan__name", "-number")
    )


def version_get(
    *, project: Project, number: int, plan_name: str = DevPlan.DEFAULT_NAME
) -> DevPlanVersion:
    """Raises Http404 when the project's plan has no such version."""
    version = (
        DevPlanVersion.objects.filter(plan__project=project, plan__name=plan_name, number=number)
        .select_related("plan", "created_by")
        .first()
    )
    if version is None:
        raise Http404(f"Version {number} does not exist.")
    return version


@dataclass
class PlanAnalytics:
    waves: dict[str, int]
    wave_warnings: list[str]
    critical_path: list[str]
    critical_path_minutes: int
    ready: list[str]
    blocked: list[str]
    done: list[str]
    in_progress: list[str]
    progress: list[FeatureProgress]
    task_cycle: list[str] | None
    plan_cycle: list[str] | None
    # Tasks outside a plan (Task Master, Markdown) have waves of their own: their depth in
    # the task dependency graph plus 1, the wave their rows show.
    task_waves: dict[str, int] = field(default_factory=dict)
    # For showing the figures: task key -> (id, name), and the plans in plan order as
    # (key, name, feature key, declared wave).
    task_labels: dict[str, tuple[int, str]] = field(default_factory=dict)
    plans: list[tuple[str, str, str, int]] = field(default_factory=list)


def plan_analytics(*, project: Project) -> PlanAnalytics:
    """Waves, critical path, ready/blocked/done sets, progress per feature and cycle checks.

    A plan with a dependency cycle gets no waves or critical path, only the cycle. The
    graph figures come from the cache while the plan is unchanged (planning.plan_graph);
    the sets list every task, for the planning chat (the analytics page and the API read
    them a page at a time, from the cache: planning.analytics_pages).
    """
    graph = plan_graph(project=project, stamp=plan_stamp(project=project))
    tasks = list(
        project.tasks.values_list(
            "id", "key", "status", "estimated_minutes", "sub_feature_id", "feature_id", "name"
        )
    )
    subs = list(
        project.sub_features.order_by(
            "feature__position", "feature__key", "position", "key"
        ).values_list("key", "feature__key", "wave", "name")
    )
    features = list(project.features.values_list("id", "key", "name"))
    task_rows = [
        TaskRow(
            key=key,
            status=status,
            estimated_minutes=minutes,
            depends_on=(),
            plan=None,
            feature=feature_id,
        )
        for _, key, status, minutes, _, feature_id, _ in tasks
    ]

    ready = set(task_ready_list(project=project).values_list("key", flat=True))
    by_status: dict[str, list[str]] = defaultdict(list)
    for row in task_rows:
        by_status[row.status].append(row.key)
    blocked = sorted(
        set(by_status[Task.Status.BLOCKED]) | (set(by_status[Task.Status.PENDING]) - ready)
    )
    rows_by_feature: dict[int | None, list[TaskRow]] = defaultdict(list)
    for row in task_rows:
        rows_by_feature[row.feature].append(row)
    open_statuses = set(Task.Status.values) - {Task.Status.DONE, Task.Status.CANCELLED}
    progress = [
        FeatureProgress(
            key=key,
            name=name,
            total=len(rows_by_feature[feature_id]),
            done=sum(1 for r in rows_by_feature[feature_id] if r.status == Task.Status.DONE),
            remaining_minutes=sum(
                r.estimated_minutes
                for r in rows_by_feature[feature_id]
                if r.status in open_statuses
            ),
        )
        for feature_id, key, name in features
    ]
    return PlanAnalytics(
        waves=graph.waves,
        wave_warnings=graph.wave_warnings,
        critical_path=graph.critical_path,
        critical_path_minutes=graph.critical_path_minutes,
        ready=sorted(ready),
        blocked=blocked,
        done=sorted(by_status[Task.Status.DONE]),
        in_progress=sorted(by_status[Task.Status.IN_PROGRESS] + by_status[Task.Status.REVIEW]),
        progress=progress,
        task_cycle=graph.task_cycle,
        plan_cycle=graph.plan_cycle,
        task_waves=graph.task_waves,
        task_labels={row[1]: (row[0], row[6]) for row in tasks},
        plans=[(key, name, phase, wave) for key, phase, wave, name in subs],
    )


def chat_session_list(*, project: Project) -> QuerySet[ConversationSession]:
    """The project's planning chats, newest first, with their messages prefetched."""
    return (
        project.conversations.filter(kind=ConversationSession.Kind.PLANNING)
        .select_related("created_by")
        .prefetch_related("messages")
        .order_by("-created_at", "-id")
    )


def chat_session_summary_list(*, project: Project) -> QuerySet[ConversationSession]:
    """The project's planning chats, newest first, each with its message count, last
    activity and opening question (for list pages; no messages are loaded)."""
    opening = (
        ConversationMessage.objects.filter(
            session=OuterRef("pk"), role=ConversationMessage.Role.USER
        )
        .order_by("created_at", "id")
        .values("content")[:1]
    )
    return (
        project.conversations.filter(kind=ConversationSession.Kind.PLANNING)
        .select_related("created_by")
        .annotate(
            message_count=Count("messages"),
            last_message_at=Max("messages__created_at"),
            opening_question=Left(Subquery(opening), CHAT_PREVIEW_CHARS),
        )
        .order_by("-created_at", "-id")
    )


def chat_session_get(*, project: Project, session_id: int) -> ConversationSession:
    """One of the project's planning chats. Raises Http404 for any other session."""
    session = (
        project.conversations.filter(kind=ConversationSession.Kind.PLANNING, pk=session_id)
        .select_related("created_by")
        .first()
    )
    if session is None:
        raise Http404("No such chat in this project.")
    return session


def chat_message_list(*, session: ConversationSession) -> QuerySet[ConversationMessage]:
    """The transcript a person reads: user and assistant messages, oldest first."""
    return session.messages.filter(
        role__in=[ConversationMessage.Role.USER, ConversationMessage.Role.ASSISTANT]
    ).order_by("created_at", "id")


def chat_history(*, session: ConversationSession, limit: int) -> list[ConversationMessage]:
    """The session's last `limit` messages, oldest first: what the assistant is sent
    along with a new question."""
    return list(session.messages.order_by("-created_at", "-id")[:limit])[::-1]


def chat_message_get(*, session: ConversationSession, message_id: int) -> ConversationMessage:
    """One message of the session. Raises Http404 for a message of another session."""
    message = session.messages.filter(pk=message_id).first()
    if message is None:
        raise Http404("No such message in this chat.")
    return message


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    """The project's import jobs, newest first, without their stored files."""
    return (
        ImportJob.objects.filter(project=project)
        .select_related("project", "created_by")
        .defer("data")
        .order_by("-created_at", "-pk")
    )


def import_job_get(*, project: Project, job_id: int) -> ImportJob:
    """Raises Http404 for a job of another project."""
    return get_object_or_404(import_job_list(project=project), pk=job_id)


# Between the stage "importing" (20) and "done" (100): applying the rows, then the version.
IMPORT_ROWS_PERCENT = (20, 95)


@dataclass(frozen=True)
class ImportRows:
    """How far a worker has got applying an import job's file, by row."""

    applied: int
    total: int

    @property
    def percent(self) -> int:
        low, high = IMPORT_ROWS_PERCENT
        return low + (high - low) * min(self.applied, self.total) // max(self.total, 1)


def import_job_rows_key(job_id: int, delivery: int) -> str:
    # By delivery: a job delivered again starts from nothing, not from the dead worker's count.
    return f"planning:import-job:{job_id}:{delivery}:rows"


def import_job_rows(*, job: ImportJob) -> ImportRows | None:
    """The rows a worker has applied of a running job's file so far, and how many there
    are; None while it reads and parses the file, and once the job has ended.

    The import writes the plan in one transaction, which no other connection sees until
    it commits, so the worker reports its count through the shared cache instead.
    """
    if job.status != ImportJob.Status.RUNNING:
        return None
    found = caches[settings.SHARED_CACHE_ALIAS].get(import_job_rows_key(job.pk, job.deliveries))
    if not isinstance(found, tuple | list) or len(found) != 2:
        return None
    return ImportRows(applied=int(found[0]), total=int(found[1]))
