"""What the project page shows. The project page renders it, and so do the import and
generate forms when they answer a plain post with the whole page and its errors.

The plan is an outline: features collapsed, with counts and progress from aggregate
queries. Opening a feature loads its sub-features, opening a sub-feature its tasks, a
page at a time (planning.views.plan), so the page stays small whatever the plan's size.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.utils import dateformat

from planning import outline, selectors
from planning.analytics_pages import Slice
from planning.forms import PlanGenerateForm, PlanImportForm, VersionCreateForm
from planning.models import Feature, Project, ProjectMembership, Task

# Download buttons, in the order pages show them.
EXPORT_CHOICES = [
    ("markdown", "Markdown"),
    ("json", "JSON"),
    ("gsd", "GSD zip"),
    ("taskmaster", "Task Master"),
]
FEATURES_PER_PAGE = 50
SUB_FEATURES_PER_PAGE = 50
TASKS_PER_PAGE = 50
# The most open task rows a live refresh of the plan page brings again.
LIVE_ROWS = 200


@dataclass
class TaskGroup:
    """A page of one group's tasks (a sub-feature's, a feature's loose ones, or those
    outside any feature), as the plan page shows it opened."""

    kind: str
    pk: int | None
    tasks: list[Task]
    page: Slice

    @property
    def query(self) -> str:
        """The group's part of its fragment's URL."""
        return f"{self.kind}={self.pk}" if self.pk is not None else f"{self.kind}=1"


def task_group_page(
    project: Project, kind: str, pk: int | None, page: str | int | None
) -> TaskGroup:
    """One page of a group's tasks (a count and a slice: two queries, three with the
    check that the group is the project's)."""
    tasks = outline.task_group(project=project, kind=kind, pk=pk)
    slice_ = Slice.of(str(page) if page else None, per_page=TASKS_PER_PAGE, total=tasks.count())
    # The page's ids first, from the ordered rows alone; then those rows with their joins:
    # the database never joins and sorts a whole huge group to reach a deep page.
    pks = list(tasks.values_list("pk", flat=True)[slice_.start : slice_.end])
    rows = {task.pk: task for task in outline.task_rows(tasks.filter(pk__in=pks))}
    return TaskGroup(kind=kind, pk=pk, tasks=[rows[pk] for pk in pks], page=slice_)


def feature_body_context(
    project: Project, feature: Feature, page: str | int | None
) -> dict[str, Any]:
    """A feature opened: a page of its sub-features with their counts (two queries)."""
    subs = outline.sub_feature_outline(feature=feature)
    slice_ = Slice.of(
        str(page) if page else None, per_page=SUB_FEATURES_PER_PAGE, total=subs.count()
    )
    shown = list(subs[slice_.start : slice_.end])
    outline.with_counts(shown)
    return {"feature": feature, "sub_features": shown, "sub_page": slice_}


def summary_context(project: Project, features: list[Feature]) -> dict[str, Any]:
    """The plan summary a live page polls: progress, work waiting for review and the next
    task, with the headers of `features`, those the page shows."""
    counts = outline.plan_counts(project=project)
    return {
        "counts": counts,
        "task_total": counts.total,
        "task_done": counts.done,
        "task_review": counts.review,
        "next_task": selectors.task_next_ready(project=project),
        "features": features,
        # What the summary's poll asks for: the headers of exactly these features, so
        # that none comes back for a feature the page does not show (htmx would find no
        # element to swap it into).
        "shown_feature_ids": ",".join(str(f.pk) for f in features),
    }


def shown_features(project: Project, ids: str) -> list[Feature]:
    """The project's features named in `ids` ("3,5,8", as the summary's poll sends them),
    with their counts; at most a page of them."""
    pks = [int(pk) for pk in ids.split(",")[:FEATURES_PER_PAGE] if pk.isdigit()]
    if not pks:
        return []
    features = list(outline.feature_outline(project=project).filter(pk__in=pks))
    outline.with_counts(features)
    return features


def shown_rows(project: Project, shown: list[str]) -> list[Task]:
    """The project's task rows a plan page has open (`shown`: "<id>-<updated_at as
    Uu>", as its summary's refresh sends them) that changed since, as the plan page shows
    them; at most LIVE_ROWS looked at (one query)."""
    stamps: dict[int, str] = {}
    for value in shown[:LIVE_ROWS]:
        pk, _, stamp = value.partition("-")
        if pk.isdigit():
            stamps[int(pk)] = stamp
    if not stamps:
        return []
    rows = outline.task_rows(project.tasks.filter(pk__in=stamps)).order_by("pk")
    return [task for task in rows if dateformat.format(task.updated_at, "Uu") != stamps[task.pk]]


def feature_page(project: Project, page: str | None) -> tuple[list[Feature], Slice]:
    features = outline.feature_outline(project=project)
    slice_ = Slice.of(page, per_page=FEATURES_PER_PAGE, total=features.count())
    shown = list(features[slice_.start : slice_.end])
    outline.with_counts(shown)
    return shown, slice_


def project_detail_context(
    project: Project,
    membership: ProjectMembership,
    request: HttpRequest | None = None,
    **forms: object,
) -> dict[str, Any]:
    """The whole project page; `forms` puts a posted form, with its errors, in place of
    the blank one. `?task=<key>` opens the task's feature, sub-feature and page, so links
    to a task land on its row."""
    params = request.GET if request is not None else {}
    focus = _focus(project, params.get("task")) or _open_focus(
        project, params.get("feature"), params.get("sub_feature")
    )
    page = params.get("page")
    if focus is not None:
        page = str(focus["feature_page"])
    features, slice_ = feature_page(project, page)
    return {
        "project": project,
        "can_write": membership.can_write,
        "status_choices": Task.Status.choices,
        "unassigned_count": outline.unassigned_task_count(project=project),
        "focus": focus,
        "import_form": PlanImportForm(),
        "version_form": VersionCreateForm(),
        "generate_form": PlanGenerateForm(initial={"requirements": project.description}),
        "export_formats": EXPORT_CHOICES,
        "feature_page": slice_,
        **summary_context(project, features),
        **forms,
    }


def _focus(project: Project, key: str | None) -> dict[str, Any] | None:
    """The opened parts that show the task with `key`: its feature's page, the page of
    sub-features holding its sub-feature, and its group's page holding it."""
    if not key:
        return None
    task = project.tasks.select_related("feature", "sub_feature").filter(key=key).first()
    if task is None:
        return None
    kind, pk, before = outline.task_group_position(task=task)
    group = task_group_page(project, kind, pk, before // TASKS_PER_PAGE + 1)
    focus: dict[str, Any] = {"task": task, "group": group, "feature_id": task.feature_id}
    focus["feature_page"] = 1
    if task.feature_id is not None:
        feature = task.feature
        assert feature is not None
        outline.with_counts([feature])
        features_before = project.features.filter(_before(feature.position, feature.key)).count()
        focus["feature_page"] = features_before // FEATURES_PER_PAGE + 1
        sub_page = 1
        if task.sub_feature_id is not None:
            sub = task.sub_feature
            assert sub is not None
            subs_before = feature.sub_features.filter(_before(sub.position, sub.key)).count()
            sub_page = subs_before // SUB_FEATURES_PER_PAGE + 1
        focus.update(feature_body_context(project, feature, sub_page))
    return focus


def _open_focus(
    project: Project, feature_id: str | None, sub_feature_id: str | None
) -> dict[str, Any] | None:
    """The opened parts that show a feature (`?feature=<id>`) or a sub-feature with its
    first page of tasks (`?sub_feature=<id>`): where the plan page lands after an edit."""
    group, sub = None, None
    if sub_feature_id and sub_feature_id.isdigit():
        sub = project.sub_features.filter(pk=int(sub_feature_id)).first()
        if sub is not None:
            feature_id = str(sub.feature_id)
            group = task_group_page(project, outline.GROUP_SUB_FEATURE, sub.pk, 1)
    if not feature_id or not feature_id.isdigit():
        return None
    feature = outline.feature_outline(project=project).filter(pk=int(feature_id)).first()
    if feature is None:
        return None
    outline.with_counts([feature])
    features_before = project.features.filter(_before(feature.position, feature.key)).count()
    sub_page = 1
    if sub is not None:
        subs_before = feature.sub_features.filter(_before(sub.position, sub.key)).count()
        sub_page = subs_before // SUB_FEATURES_PER_PAGE + 1
    return {
        "feature_id": feature.pk,
        "feature_page": features_before // FEATURES_PER_PAGE + 1,
        "group": group,
        **feature_body_context(project, feature, sub_page),
    }


def _before(position: int, key: str) -> Q:
    """Rows ahead of (position, key) in plan order."""
    return Q(position__lt=position) | Q(position=position, key__lt=key)
