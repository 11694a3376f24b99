"""A plan as a document, its versions, and its analytics."""

from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db.models import (
    QuerySet,
)
from django.http import Http404

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
    DevPlan,
    DevPlanVersion,
    Project,
    Requirement,
    SubFeature,
    SubFeatureDependency,
    Task,
    TaskDependency,
)
from planning.outline import plan_stamp
from planning.plan_graph import plan_graph
from planning.selectors.projects import requirement_order
from planning.selectors.readiness import task_ready_list

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
